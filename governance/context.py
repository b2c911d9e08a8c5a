"""What every governance step needs about one run: its record, campaign config and rules.

The config and rules are read from the run's frozen copy of its campaign and templates
(``runs/<id>/frozen/``), never from today's files: a template edited after the refresh does
not change how that run is governed, reviewed, published or re-run.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from segflow.governance.clauses import CohortRule, load_rules
from segflow.governance.config import GovernanceConfig, load_config
from segflow.governance.store import run_file
from segflow.runstore import RunRecord, frozen_settings, load_run
from segflow.settings import Settings


@dataclass
class RunContext:
    settings: Settings        # reads the run's frozen rules (same workspace)
    run: RunRecord
    live: Settings | None = None  # today's project files (the owners file of today)

    @classmethod
    def of(cls, settings: Settings, run_id: str) -> RunContext:
        """The run with settings that read its frozen rules (same workspace)."""
        return cls(frozen_settings(settings, run_id), load_run(settings, run_id), settings)

    @property
    def run_id(self) -> str:
        return self.run.run_id

    @cached_property
    def config(self) -> GovernanceConfig:
        return load_config(self.settings, self.run.campaign)

    @cached_property
    def columns(self) -> dict[str, str]:
        """Feature-frame columns of this run with scoring's type families (from the
        footer of a file, or the dataset's schema of a Spark run's folder of parts)."""
        import pyarrow.dataset as ds

        from segflow.scoring.columns import family

        schema = ds.dataset(run_file(self.settings, self.run_id, "features.parquet"),
                            format="parquet").schema
        return {f.name: family(f.type) for f in schema}

    @cached_property
    def rules(self) -> dict[str, CohortRule]:
        return load_rules(self.settings, self.run.campaign, self.columns,
                          self.run.inputs.get("overrides") or None)

    def title(self, cohort: str | None) -> str:
        """'Lapsed high-value' or 'Regional (maharashtra|hindi)' for a split cohort."""
        if cohort is None:
            return "(none)"
        base, _, split = cohort.partition("__")
        rule = self.rules.get(base)
        curated = {c.name: c.title for c in self.config.curated}
        name = rule.title if rule else curated.get(base, base)
        return f"{name} ({split})" if split else name

"""What every governance step needs about one run: its record, campaign config and rules."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from governance.clauses import CohortRule, load_rules
from governance.config import GovernanceConfig, load_config
from governance.store import run_file
from segflow.runstore import RunRecord, load_run
from segflow.settings import Settings


@dataclass
class RunContext:
    settings: Settings
    run: RunRecord

    @classmethod
    def of(cls, settings: Settings, run_id: str) -> RunContext:
        return cls(settings, load_run(settings, run_id))

    @property
    def run_id(self) -> str:
        return self.run.run_id

    @cached_property
    def config(self) -> GovernanceConfig:
        return load_config(self.settings, self.run.campaign)

    @cached_property
    def columns(self) -> dict[str, str]:
        """Feature-frame columns of this run with scoring's type families."""
        import pyarrow.parquet as pq

        from scoring.columns import family

        schema = pq.read_schema(run_file(self.settings, self.run_id, "features.parquet"))
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
        name = rule.title if rule else base
        return f"{name} ({split})" if split else name

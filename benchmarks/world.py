"""What every benchmark stage agrees on: scales, the seed, the campaign and its two as-of
times, and the workspace a stage runs in."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from segflow.errors import SegflowError
from segflow.settings import Settings

SCALES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000, "10m": 10_000_000}
SEED = 7
CAMPAIGN = "holi_2027"
ENTITY = "customer"
KEY = "customer_id"
AS_OF = datetime(2027, 3, 1, tzinfo=UTC)
# The published run the refresh is compared with (movement, drift reference).
PREVIOUS_AS_OF = datetime(2027, 2, 22, tzinfo=UTC)
MODELS = ("holi_propensity", "flash_sale_uplift")  # the models holi_2027's templates read
APPROVER = "priya.nair"


def customers_of(scale: str) -> int:
    """10k, 100k, 1m, 10m, or a plain integer."""
    if scale in SCALES:
        return SCALES[scale]
    try:
        return int(scale)
    except ValueError:
        raise SegflowError(f"unknown scale '{scale}'; use one of {', '.join(SCALES)} "
                           "or a number of customers") from None


def workspace(home: Path, templates: Path | None = None) -> Settings:
    """The benchmark workspace: its own home, the project's feature repo, and the project's
    segment templates unless another templates root is given."""
    settings = Settings(home=Path(home).resolve())
    if templates is not None:
        settings = Settings(home=settings.home, templates_root=Path(templates).resolve())
    return settings.ensure()


def peers_dir(settings: Settings) -> Path:
    """Where the peers keep their own Feast repos and outputs (never the real feast/)."""
    path = settings.home / "peers"
    path.mkdir(parents=True, exist_ok=True)
    return path


def runs_file(settings: Settings) -> Path:
    """run ids written by one stage for the later ones (baseline, refresh)."""
    return settings.home / "bench_runs.json"


def link_sources(world: Path, dest: Path) -> Path:
    """The source files of a world written before (``world/sources``, as ``segflow demo-data
    holi`` or the generate stage lays it out) hard-linked into ``dest``: a 10M world takes
    ten minutes to write and 13 GB to keep, and a link costs neither. ``sources.yaml`` is
    copied, not linked, since a benchmark may rewrite it in place. Returns ``dest``."""
    import os
    import shutil

    origin = Path(world) / "sources"
    if not (origin / "sources.yaml").is_file():
        raise SegflowError(f"--world {world}: no sources/sources.yaml there (a world written "
                           "by `segflow demo-data holi` or a benchmark's generate stage)")
    shutil.copytree(origin, dest, copy_function=os.link,
                    ignore=shutil.ignore_patterns("sources.yaml"), dirs_exist_ok=True)
    shutil.copyfile(origin / "sources.yaml", Path(dest) / "sources.yaml")
    return Path(dest)

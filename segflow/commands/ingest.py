"""``segflow ingest``: sources -> canonical tables, with a per-table account of every row."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)


def ingest(
    sources: Optional[Path] = typer.Option(  # noqa: UP045 (typer needs Optional here)
        None, "--sources", help="sources.yaml to read (default: the project's sources.yaml, "
        "else <home>/sources/sources.yaml, where demo-data writes)."),
    as_of: Optional[str] = typer.Option(  # noqa: UP045
        None, "--as-of", help="When the sources were extracted (ISO date/time, UTC): later "
        "timestamps, past each contract's tolerance, are quarantined. Default: sources.yaml's "
        "as_of, else now."),
    allow_shrink: bool = typer.Option(
        False, "--allow-shrink", help="Accept a load that empties a table or removes more "
        "than its max_shrink share of rows (10% unless sources.yaml says otherwise)."),
    full: bool = typer.Option(
        False, "--full", help="Rebuild every table from scratch, reading sources with a "
        "cursor whole rather than from their watermark (docs/sources.md)."),
    compact: bool = typer.Option(
        False, "--compact", help="Fold every table's delta files (incremental loads since "
        "its base was written) into a new base now, whatever compact_after says "
        "(docs/ingest.md)."),
) -> None:
    """Read every source, check it against its contract, normalise, de-duplicate and write
    <home>/canonical/<table>.parquet; bad rows go to <home>/quarantine/ with a reason.

    A source with a cursor is read only from its watermark on and merged into its table by
    key (as a delta file beside the table, folded in by compact_after or --compact);
    --full rebuilds from scratch. Exits 1, writing nothing, when a load would empty or
    shrink a table past its limit."""
    from segflow.ingest.pipeline import run_ingest
    from segflow.settings import get_settings
    from segflow.timeutil import parse_as_of

    settings = get_settings().ensure()
    report = run_ingest(settings, sources, as_of=parse_as_of(as_of) if as_of else None,
                        allow_shrink=allow_shrink, full=full, compact=compact)
    if report.full_because:
        typer.echo(f"full load ({report.full_because}): every source read whole")
    for name, t in report.tables.items():
        if t.load == "unchanged":
            typer.echo(f"{name:<18} nothing new since the last load ({t.written:,} rows)"
                       + _folded(t.folded))
            continue
        line = (f"{name:<18} in {t.rows_in:>10,}  accepted {t.accepted:>10,}  "
                f"quarantined {t.quarantined_total:>8,}")
        if t.load == "incremental" or t.deleted or t.superseded:
            line += (f"  upserted {t.upserted:,}  deleted {t.deleted:,}"
                     + (f"  superseded {t.superseded:,}" if t.superseded else "")
                     + f"  ({t.load}; {t.written:,} rows now"
                     + (f"; delta {t.delta}" if t.delta is not None else "") + ")")
        if t.merged:
            line += f"  merged duplicates {t.merged:,}"
        typer.echo(line + _folded(t.folded))
        for reason, n in t.quarantined.items():
            typer.echo(f"{'':<20}{reason}: {n:,}" + (f"  {t.first[reason]}"
                                                     if reason in t.first else ""))
        for warning, n in t.warnings.items():
            if n:
                typer.echo(f"{'':<20}warning {warning} (kept, value set to null): {n:,}")
    if compact and not any(t.folded for t in report.tables.values()):
        typer.echo("--compact: no table had delta files to fold (every table is its base)")
    typer.echo(f"canonical tables in {settings.canonical_dir}; "
               f"report in {settings.quarantine_dir / 'report.json'}")


def _folded(files: int) -> str:
    """What a table's line says of a compaction: its delta files folded into a new base."""
    return f"  compacted: {files:,} delta file(s) folded into a new base" if files else ""

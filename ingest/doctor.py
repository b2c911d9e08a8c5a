"""``segflow doctor``'s checks of the canonical tables (see ``segflow.doctor``).

- An ingest killed while it switched its tables left its commit journal: with ``repair``
  the renames are completed (every staged file was whole and checked before the journal
  was written), so the tables are again those of one ingest.
- An ingest that ended before committing left staged outputs (``*.staged``): they are
  removed; the canonical tables are still those of the last completed ingest.
- Every canonical table must be a readable Parquet file, and a table ingest wrote a receipt
  for must still have the content that receipt hashed. A truncated or changed table is
  never repaired: someone must decide between re-running ingest and restoring a backup.
- Live events appended as offline files (``events/offline/``) that a canonical load has
  carried since are removed with ``repair`` (a file still needed never is).
"""

from __future__ import annotations

from pathlib import Path

from segflow.canonical import DELTA
from segflow.doctor import Finding
from segflow.ingest.incremental import FOLDER
from segflow.ingest.output import STAGED, finish_commit
from segflow.receipts import JOURNAL, read_receipts, unchanged
from segflow.settings import Settings

AREA = "canonical"


def findings(settings: Settings, repair: bool) -> list[Finding]:
    """Interrupted commits, staged leftovers, unreadable tables, tables changed since ingest."""
    return [*interrupted_commit(settings, repair), *staged_leftovers(settings, repair),
            *tables(settings), *offline_events(settings, repair)]


def _rel(settings: Settings, path: Path) -> str:
    return str(Path(path).relative_to(settings.home))


def interrupted_commit(settings: Settings, repair: bool) -> list[Finding]:
    journal = settings.canonical_dir / JOURNAL
    if not journal.exists():
        return []
    finding = Finding(AREA, _rel(settings, journal), "an ingest was killed while it switched "
                      "the canonical tables: some are new, some old",
                      "run `segflow doctor` to complete the switch")
    if repair:
        done = finish_commit(journal)
        finding.fix = f"completed: {len(done)} staged file(s) put in place"
        finding.repaired = True
    return [finding]


def staged_leftovers(settings: Settings, repair: bool) -> list[Finding]:
    """Staged outputs of an ingest that ended before its commit (none while a journal
    still needs them: that is handled, or reported, first)."""
    if (settings.canonical_dir / JOURNAL).exists():
        return []
    out = []
    deltas = settings.canonical_dir / DELTA
    for folder in (settings.canonical_dir, settings.canonical_dir / FOLDER,
                   settings.quarantine_dir,
                   *(sorted(p for p in deltas.iterdir() if p.is_dir())
                     if deltas.is_dir() else [])):
        for path in sorted(folder.glob(f"*{STAGED}")) if folder.is_dir() else []:
            finding = Finding(AREA, _rel(settings, path), "output of an ingest that ended "
                              "before committing; the tables in use are those of the last "
                              "completed ingest",
                              "removed" if repair else "run `segflow doctor` to remove it")
            if repair:
                path.unlink(missing_ok=True)
                finding.repaired = True
            out.append(finding)
    return out


def offline_events(settings: Settings, repair: bool) -> list[Finding]:
    """Appended live events (events/offline/) that a canonical load has carried since:
    the build reads the table's rows for them, so the files only take space; repair
    removes them (``segflow.ingest.events.offline.prune``), never a file still needed."""
    from segflow.ingest.events.offline import carried, prune

    found = prune(settings) if repair else carried(settings)
    if not found:
        return []
    events = sum(n for _, n in found)
    return [Finding(AREA, _rel(settings, settings.events_offline_dir),
                    f"{len(found)} offline event file(s) ({events} events) that the canonical "
                    "tables now hold",
                    "removed" if repair else "run `segflow events prune` to remove them",
                    repaired=repair)]


def tables(settings: Settings) -> list[Finding]:
    """Each canonical Parquet file, base and delta (``segflow.canonical``): readable, and
    unchanged since its receipt (if any)."""
    from segflow.canonical import deltas

    folder = settings.canonical_dir
    receipts = read_receipts(folder) if folder.is_dir() else {}
    out = []
    for path in sorted(folder.glob("*.parquet")) if folder.is_dir() else []:
        entry = receipts.get(path.stem)
        out.append(_file(settings, path, entry))
        listed = dict((entry or {}).get("deltas") or {})
        for _, rows, keys in deltas(path):
            got = listed.pop(str(rows.relative_to(folder)), None)
            out.append(_file(settings, rows, got))
            out.append(_file(settings, keys, (got or {}).get("keys")))
        out += [Finding(AREA, f"canonical/{name}", "ingest wrote this incremental load but "
                        "its file is gone", "run `segflow ingest --full` to rebuild the table")
                for name in sorted(listed)]
    for table, entry in sorted(receipts.items()):
        if not (folder / entry.get("file", f"{table}.parquet")).exists():
            out.append(Finding(AREA, f"canonical/{entry.get('file', table)}", "ingest wrote "
                               "this table but the file is gone",
                               "re-run `segflow ingest`, or restore it from a backup"))
    return out


def _file(settings: Settings, path: Path, entry: dict | None) -> Finding:
    """One canonical file: readable, and unchanged since its receipt (if any)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    subject = _rel(settings, path)
    try:
        pq.read_metadata(path)
    except (OSError, pa.ArrowException) as err:
        return Finding(AREA, subject, f"not a readable Parquet file (truncated or "
                       f"overwritten: {str(err).splitlines()[0]})",
                       "re-run `segflow ingest` to rebuild it, or restore it from a backup")
    if entry is None or "sha256" not in entry:
        return Finding(AREA, subject, fix="no ingest receipt: the contracts control "
                       "checks its rows at every run")
    if unchanged(entry, path):
        return Finding(AREA, subject)
    return Finding(AREA, subject, "changed since ingest checked it (its content no longer "
                   "matches the receipt's SHA-256)",
                   "re-run `segflow ingest` if the change is wanted, else restore the file "
                   "from a backup; until then the contracts control re-checks every row")

"""Email and phone normalisation, so the same person matches across sources and duplicates.

Emails: trimmed and lower-cased; a value that is not an email becomes null (counted as a
warning, the row is kept). Phones: E.164 via Google's libphonenumber port, with the
customer's country as the default region. libphonenumber is per value (pure Python, ~20k
numbers a second a core), so it runs once per distinct (raw phone, country) pair, never once
per row; strings already in E.164 skip it; and a pair parsed before is read from the
workspace's phone cache (raw string, region, E.164; files named for the library's version),
so a later ingest, full or incremental, parses only numbers it has never seen. The lookup,
the anti-join and the rewrite are DuckDB joins; only the unseen pairs go through Python.

The cache is Parquet files in the canonical folder (``_cache/``), one per load that parsed
new numbers, written by the ingest's journalled commit like its tables (a table of the
workspace database was tried first: its 256 KB blocks and checkpoint wrote outside the
commit and filled a small disk before the tables); every 16 files one load writes them all
into one, and the older files are removed after its commit.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

EMAIL_PATTERN = r"^[a-z0-9._%+'-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}$"
E164_PATTERN = r"^\+[1-9][0-9]{7,14}$"


def email_sql(expr: str) -> str:
    """SQL: normalised email or NULL when it is not an email."""
    norm = f"LOWER(TRIM({expr}))"
    pattern = EMAIL_PATTERN.replace("'", "''")
    return f"CASE WHEN regexp_matches({norm}, '{pattern}') THEN {norm} END"


def to_e164(raw: str | None, region: str | None) -> str | None:
    """One phone string -> E.164, or None when it cannot be a number of that region."""
    import phonenumbers

    if raw is None or not str(raw).strip():
        return None
    try:
        number = phonenumbers.parse(str(raw), (region or "").upper() or None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


_STRIPPED = "regexp_replace({a}.phone, '[\\s().-]', '', 'g')"


def _phone_sql(alias: str) -> str:
    """SQL: the phone without separators when that is E.164 already, else the mapped one."""
    stripped = _STRIPPED.format(a=alias)
    return (f"CASE WHEN regexp_matches({stripped}, '{E164_PATTERN}') THEN {stripped} "
            "ELSE m.e164 END")


POOL_ABOVE = 50_000  # distinct phones; below this a process pool costs more than it saves


def _e164_chunk(pairs: list[tuple[str, str]]) -> list[str | None]:
    return [to_e164(p, c) for p, c in pairs]


def _map_phones(phones: list, countries: list) -> list:
    """libphonenumber over every core: it is pure Python at ~20k numbers per second per
    core, and 10M customers have ~3.5M distinct local-format numbers (3 minutes on one)."""
    import os
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    pairs = list(zip(phones, countries, strict=True))
    workers = os.cpu_count() or 1
    if len(pairs) < POOL_ABOVE or workers < 2:
        return _e164_chunk(pairs)
    size = -(-len(pairs) // (workers * 4))
    chunks = [pairs[i:i + size] for i in range(0, len(pairs), size)]
    with ProcessPoolExecutor(workers, mp_context=get_context("fork")) as pool:
        return [e for part in pool.map(_e164_chunk, chunks) for e in part]


PARTS_BEFORE_COMPACTING = 16    # cache files read before one load folds them into one


def _library() -> str:
    """The libphonenumber port's version: a cached mapping holds only for the version that
    made it (its metadata changes number plans). Read from the installed package's record,
    not by importing it: a load whose numbers are all cached never loads the library
    (about a second of a 100k incremental load on a busy machine)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("phonenumbers")
    except PackageNotFoundError:   # not installed as a distribution (vendored): ask it
        import phonenumbers

        return phonenumbers.__version__


def cache_files(folder: Path) -> list[Path]:
    """The cache files this library version reads: the last compacted one (``*_all``) and
    every part written after it. Names carry the version and a sequence number."""
    prefix = f"e164_{_library()}_"
    found = sorted((int(p.stem[len(prefix):].split("_")[0]), p)
                   for p in folder.glob(f"{prefix}*.parquet")) if folder.is_dir() else []
    last_all = max((n for n, p in found if p.stem.endswith("_all")), default=-1)
    return [p for n, p in found if n >= last_all and (n > last_all or p.stem.endswith("_all"))]


def next_cache_file(folder: Path, files: list[Path]) -> tuple[Path, bool]:
    """Where this load's newly parsed numbers go, and whether that file holds every cached
    number (a compaction: the files before it are then no longer read)."""
    prefix = f"e164_{_library()}_"
    last = max((int(p.stem[len(prefix):].split("_")[0]) for p in files), default=-1)
    compact = len(files) >= PARTS_BEFORE_COMPACTING
    return folder / f"{prefix}{last + 1:06d}{'_all' if compact else ''}.parquet", compact


def prune_cache(folder: Path) -> None:
    """Remove the cache files no longer read (folded into a later one, or of another
    library version): run after a commit, and harmless to repeat after a crash."""
    if folder.is_dir():
        keep = set(cache_files(folder))
        for path in folder.glob("e164_*.parquet"):
            if path not in keep:
                path.unlink(missing_ok=True)


def _phone_map(con, table: str, cached: list[Path]) -> pa.Table:
    """Table ``_phone_map``: (raw phone, region) -> E.164 for the distinct pairs of
    ``table`` that are not E.164 already. Pairs in the ``cached`` files are read from them;
    only the others are parsed. Region is the country, '' where it has none. Returns the
    newly parsed pairs (raw, region, e164), for the cache."""
    con.execute(
        "CREATE OR REPLACE TABLE _phone_pairs AS "
        f"SELECT DISTINCT phone AS raw, coalesce(country, '') AS region FROM {table} t "
        f"WHERE phone IS NOT NULL AND NOT regexp_matches({_STRIPPED.format(a='t')}, "
        f"'{E164_PATTERN}')")
    files = "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in cached) + "]"
    cache = f"read_parquet({files})" if cached else None
    unseen = "_phone_pairs" if cache is None else (
        f"(SELECT * FROM _phone_pairs p ANTI JOIN {cache} c "
        "ON p.raw = c.raw AND p.region = c.region)")
    pairs = con.sql(f"SELECT raw, region FROM {unseen}").to_arrow_table()
    phones, regions = pairs["raw"].to_pylist(), pairs["region"].to_pylist()
    new = pa.table({
        "raw": pa.array(phones, pa.string()), "region": pa.array(regions, pa.string()),
        "e164": pa.array(_map_phones(phones, [r or None for r in regions]), pa.string())})
    con.register("_phone_new", new)
    sql = "SELECT raw, region, e164 FROM _phone_new"
    if cache is not None:
        sql += (f" UNION ALL SELECT c.raw, c.region, c.e164 FROM {cache} c SEMI JOIN "
                "_phone_pairs p ON p.raw = c.raw AND p.region = c.region")
    con.execute(f"CREATE OR REPLACE TABLE _phone_map AS {sql}")
    con.unregister("_phone_new")
    con.execute("DROP TABLE _phone_pairs")
    return new


def cache_contents(con, cached: list[Path], new: pa.Table) -> pa.Table:
    """Every cached pair and the new ones: what a compacted cache file holds."""
    if not cached:
        return new
    files = "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in cached) + "]"
    con.register("_phone_new", new)
    try:
        return con.sql(f"SELECT raw, region, e164 FROM read_parquet({files}) "
                       "UNION ALL SELECT * FROM _phone_new").to_arrow_table()
    finally:
        con.unregister("_phone_new")


def normalise_identifiers(con, table: str, cached: list[Path] = ()
                          ) -> tuple[dict[str, int], pa.Table]:
    """Rewrite ``email`` and ``phone`` of table ``table`` in place; return warnings
    and the phone pairs parsed now (for the cache).

    The raw values stay in ``__raw_email``/``__raw_phone``, so a warning is a good row whose
    raw value was present but did not normalise (the row itself is kept). ``cached`` (the
    cache files, ``cache_files``) spares libphonenumber the numbers earlier ingests parsed.
    """
    new = _phone_map(con, table, list(cached))
    con.execute(f"""
        CREATE OR REPLACE TABLE {table} AS
        SELECT t.* REPLACE ({email_sql('t.email')} AS email, {_phone_sql('t')} AS phone)
        FROM {table} t LEFT JOIN _phone_map m
          ON t.phone = m.raw AND coalesce(t.country, '') = m.region
        ORDER BY t._row""")
    con.execute("DROP TABLE _phone_map")
    counts = con.execute(f"""
        SELECT count(*) FILTER (WHERE NULLIF(TRIM(__raw_email), '') IS NOT NULL
                                  AND email IS NULL),
               count(*) FILTER (WHERE NULLIF(TRIM(__raw_phone), '') IS NOT NULL
                                  AND phone IS NULL)
        FROM {table} WHERE _reason IS NULL""").fetchall()[0]
    return {"invalid_email": int(counts[0]), "invalid_phone": int(counts[1])}, new

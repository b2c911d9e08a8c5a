"""Email and phone normalisation, so the same person matches across sources and duplicates.

Emails: trimmed and lower-cased; a value that is not an email becomes null (counted as a
warning, the row is kept). Phones: E.164 via Google's libphonenumber port, with the
customer's country as the default region. libphonenumber is per value (pure Python, ~20k
numbers a second a core), so it runs once per distinct (raw phone, country) pair, never once
per row; strings already in E.164 skip it; and a pair it has mapped before is read from a
cache table in the workspace database (``phone_e164_cache``: raw string, region, E.164, the
library's version), so a later ingest, full or incremental, parses only numbers it has never
seen. The lookup, the anti-join and the rewrite are DuckDB joins; only the unseen pairs go
through Python.
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


CACHE = "phone_e164_cache"   # table of the workspace database (segflow.duckdb)
CACHE_ALIAS = "workspace_db"


def _library() -> str:
    """The libphonenumber port's version: a cached mapping holds only for the version that
    made it (its metadata changes number plans)."""
    import phonenumbers

    return phonenumbers.__version__


def attach_phone_cache(con, database: Path) -> str | None:
    """Attach the workspace database to ``con`` and make sure the cache table exists;
    returns the table's qualified name, or None when another process has the database
    open (the ingest then parses every unseen number itself: slower, same result)."""
    import duckdb

    path = "'" + str(database).replace("'", "''") + "'"
    try:
        con.execute(f"ATTACH {path} AS {CACHE_ALIAS}")
    except duckdb.IOException as err:
        if "lock" in str(err).lower():
            return None
        raise
    name = f"{CACHE_ALIAS}.{CACHE}"
    con.execute(f"CREATE TABLE IF NOT EXISTS {name} (raw VARCHAR NOT NULL, "
                "region VARCHAR NOT NULL, e164 VARCHAR, library VARCHAR NOT NULL)")
    con.execute(f"DELETE FROM {name} WHERE library <> ?", [_library()])
    return name


def _phone_map(con, table: str, cache: str | None = None) -> None:
    """Temp table ``_phone_map``: (raw phone, region) -> E.164 for the distinct pairs of
    ``table`` that are not E.164 already. Pairs in ``cache`` are read from it; the others
    are parsed and added to it. Region is the country, '' where it has none."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _phone_pairs AS "
        f"SELECT DISTINCT phone AS raw, coalesce(country, '') AS region FROM {table} t "
        f"WHERE phone IS NOT NULL AND NOT regexp_matches({_STRIPPED.format(a='t')}, "
        f"'{E164_PATTERN}')")
    unseen = "_phone_pairs" if cache is None else (
        f"(SELECT * FROM _phone_pairs p ANTI JOIN {cache} c "
        "ON p.raw = c.raw AND p.region = c.region)")
    pairs = con.sql(f"SELECT raw, region FROM {unseen}").to_arrow_table()
    phones, regions = pairs["raw"].to_pylist(), pairs["region"].to_pylist()
    con.register("_phone_new", pa.table({
        "raw": pa.array(phones, pa.string()), "region": pa.array(regions, pa.string()),
        "e164": pa.array(_map_phones(phones, [r or None for r in regions]), pa.string())}))
    sql = "SELECT raw, region, e164 FROM _phone_new"
    if cache is not None:
        con.execute(f"INSERT INTO {cache} SELECT raw, region, e164, ? FROM _phone_new",
                    [_library()])
        sql = (f"SELECT c.raw, c.region, c.e164 FROM {cache} c SEMI JOIN _phone_pairs p "
               "ON p.raw = c.raw AND p.region = c.region")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _phone_map AS {sql}")
    con.unregister("_phone_new")
    con.execute("DROP TABLE _phone_pairs")


def normalise_identifiers(con, table: str, cache: str | None = None) -> dict[str, int]:
    """Rewrite ``email`` and ``phone`` of temp table ``table`` in place; return warnings.

    The raw values stay in ``__raw_email``/``__raw_phone``, so a warning is a good row whose
    raw value was present but did not normalise (the row itself is kept). ``cache`` (from
    ``attach_phone_cache``) spares libphonenumber the numbers mapped by earlier ingests.
    """
    _phone_map(con, table, cache)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {table} AS
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
    return {"invalid_email": int(counts[0]), "invalid_phone": int(counts[1])}

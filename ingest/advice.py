"""What a quarantine reason means and what to do about it, with the first row it hit.

Ingest prints one line per reason: how many rows, where the first one is (file and line
for lines the reader refused, file and data row for values a check refused: the reader
skips blank lines, so a row number counts data rows, not lines), the column and its value,
and the fix, so a person can act on it without opening the quarantine file first.
"""

from __future__ import annotations

from pathlib import Path

ADVICE = {
    "missing_key": "the key is empty: every row needs one",
    "missing_value": "empty in a column the contract says is never empty (nullable: false): "
                     "fill it in the source, or give a value under `defaults:` in sources.yaml",
    "unparsable_date": "not a date or time the source's format reads: fix the value, or "
                       "declare the column's format under `formats:` in sources.yaml",
    "unparsable_number": "not a number: fix the value (a decimal point, no thousands "
                         "separator or currency sign)",
    "unparsable_bool": "not true/false (or 1/0, yes/no): fix the value",
    "not_allowed": "not in the column's `allowed:` list: fix the value, or add it to the list "
                   "in the table's contract",
    "unknown_currency": "a currency without a rate: add its rate to the project's "
                        "fx_rates.yaml, or fix the value",
    "out_of_range": "outside the column's `min:`/`max:` in the table's contract: fix the "
                    "value, or the bounds if the value is right",
    "too_early": "before the column's earliest plausible date (`min:` in the contract)",
    "too_late": "after the column's latest plausible date (`max:` in the contract)",
    "in_future": "after the as-of time of the sources (`as_of:` in sources.yaml, or "
                 "--as-of) plus the contract's `max_future`",
    "naive_timestamp": "a time of day without a zone: declare `timezone:` for the source "
                       "(or the project's in segflow.yaml)",
    "orphan": "refers to a row that is not among the accepted rows of the table it "
              "references (missing, or itself quarantined)",
    "duplicate_key": "a later copy of a key already accepted (the first one is kept)",
    "stray_quote": "a quote character inside an unquoted value: quote the value, or set "
                   "`quote:` for the source",
    "too_few_fields": "fewer fields than the header, or than `names:` for a file without "
                      "one (a cut line?): fix the line, or the source's `delimiter:` or "
                      "`names:`",
    "too_many_fields": "more fields than the header, or than `names:` for a file without "
                       "one: fix the line, or the source's `delimiter:` / `quote:` / "
                       "`names:`",
    "line_too_long": "a line longer than the reader accepts (a missing closing quote?)",
    "malformed_line": "a line the reader cannot split into fields",
}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def first_rows(con, quarantine: Path, reasons: list[str], columns: list[str]
               ) -> dict[str, str]:
    """Reason -> one line naming where its first row is, the value and what to do."""
    lines = {}
    for reason in reasons:
        check, _, column = reason.partition(":")
        value = _q(column) if column in columns else "NULL"
        found = con.execute(
            f"SELECT _row, _line, _source, _raw_line, {value} FROM read_parquet(?) "
            "WHERE _reason = ? ORDER BY _row NULLS LAST, _line LIMIT 1",
            [str(quarantine), reason]).fetchall()
        if not found:
            continue
        row, line, source, raw_line, shown = found[0]
        where = str(source).split(":", 1)[-1].split("#")[0]
        if line is not None:
            at = f"{where}:{line}: {str(raw_line)[:80]!r}"
        else:
            at = f"{where}, data row {row}: {column} = {shown!r}"
        lines[reason] = f"first at {at}; {ADVICE.get(check, 'see docs/ingest.md')}"
    return lines

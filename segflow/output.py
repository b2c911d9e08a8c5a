"""What listing commands print: a table with headers for people, JSON for scripts.

Every listing and ``show`` command takes ``--json``; without it, rows are drawn as a table
(rich) sized to the terminal, numbers right-aligned, and a cut list says "showing N of M"
and how to see the rest. The JSON is the same rows as objects, every one, to stdout.
"""

from __future__ import annotations

import json
import sys

JSON_HELP = "Print JSON for scripts (every row, as objects) instead of a table."


def quiet_for_json(value: bool) -> bool:
    """The --json option's callback: a script reading JSON gets no progress lines either."""
    if value:
        from segflow import progress

        progress.enable(False)
    return value


def json_option():
    """``--json`` for a command (listings, show, and any long step with a JSON result)."""
    import typer

    return typer.Option(False, "--json", help=JSON_HELP, callback=quiet_for_json)


def emit_json(data) -> None:
    """JSON to stdout, one document."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def records(columns: list[str], rows) -> list[dict]:
    return [dict(zip(columns, row, strict=True)) for row in rows]


def table(columns: list[str], rows, title: str | None = None, numeric: tuple = (),
          total: int | None = None, more: str | None = None) -> None:
    """A table with headers; ``numeric`` columns right-aligned and grouped; when ``total``
    exceeds the rows shown, a line says so and ``more`` tells how to see the rest."""
    from rich.console import Console
    from rich.table import Table

    # a pipe or a log file gets whole lines rather than cells folded to 80 columns
    console = Console(soft_wrap=False, width=None if sys.stdout.isatty() else 240)
    t = Table(title=title, title_justify="left", header_style="bold", show_edge=False,
              pad_edge=False)
    for c in columns:
        t.add_column(c, justify="right" if c in numeric else "left", overflow="fold",
                     no_wrap=c in numeric)
    for row in rows:
        t.add_row(*[_cell(v, c in numeric) for c, v in zip(columns, row, strict=True)])
    console.print(t)
    shown = len(rows)
    if total is not None and total > shown:
        console.print(f"showing {shown:,} of {total:,}" + (f"; {more}" if more else ""),
                      style="dim")


def _cell(value, numeric: bool) -> str:
    from rich.markup import escape

    if value is None:
        return ""
    if numeric and isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:,}" if isinstance(value, int) else f"{value:,.4g}"
    return escape(str(value))

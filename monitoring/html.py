"""One self-contained HTML page from headed sections (tables, notes, plotly figures), in
the look every segflow page shares (``segflow.pages``).

Every monitoring page (drift summary, trends, feedback) is a single file a reviewer can open
or attach to a ticket: no server, no CDN; plotly's script is inlined once.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

MAX_ROWS = 500  # rows of one table on a page; the Parquet beside it has them all
# how a column's values read, by its name
PERCENT = re.compile(r"(rate|share|^lift|_lift|conversion_|drifted_share|pct)", re.I)
MONEY = re.compile(r"(revenue|spend|amount|_inr$)", re.I)
COUNT = re.compile(r"(^n_|^n$|count|responses|members|rows|customers|^size)", re.I)


def _kind(column: str, series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if not pd.api.types.is_numeric_dtype(series):
        return "text"
    if PERCENT.search(column):
        return "pct"
    if MONEY.search(column):
        return "money"
    if COUNT.search(column) or pd.api.types.is_integer_dtype(series):
        return "count"
    return "num"


def table_section(heading: str, frame: pd.DataFrame, fmt) -> dict:
    """A DataFrame as formatted cells (text, sort key), numbers right-aligned."""
    kinds = {c: _kind(str(c), frame[c]) for c in frame.columns}
    show = {"pct": fmt.pct, "money": fmt.money, "count": fmt.count, "num": fmt.number,
            "bool": lambda v: "" if pd.isna(v) else ("yes" if v else "no"),
            "text": lambda v: "" if v is None or (isinstance(v, float) and pd.isna(v))
            else str(v)}
    rows = []
    for record in frame.head(MAX_ROWS).itertuples(index=False):
        row = []
        for c, v in zip(frame.columns, record, strict=True):
            k = kinds[c]
            if k in ("text", "bool"):
                row.append(show[k](v))
            else:
                row.append((show[k](v), "" if pd.isna(v) else float(v)))
        rows.append(row)
    headers = [(str(c).replace("_", " "), "text" if kinds[c] in ("text", "bool") else "num")
               for c in frame.columns]
    return {"heading": heading, "kind": "table", "headers": headers, "rows": rows,
            "total": len(frame)}


def render_page(title: str, sections: list[tuple[str, object]], verdict: str | None = None,
                passed: bool | None = None, kpis: list | None = None,
                verdict_note: str | None = None, settings=None,
                nav: list[tuple[str, str]] | None = None) -> str:
    """Sections are (heading, body); a body is a DataFrame, a plotly figure or plain text;
    ``nav`` links the page to its neighbours (label, relative href)."""
    from segflow.pages import env, render

    e = env(settings)
    fmt = e.globals["fmt"]
    parts, plotly_inlined = [], False
    for heading, body in sections:
        if isinstance(body, pd.DataFrame) and body.empty:
            parts.append({"heading": heading, "kind": "note", "body": "None."})
        elif isinstance(body, pd.DataFrame):
            parts.append(table_section(heading, body, fmt))
        elif hasattr(body, "to_html"):  # a plotly figure, its script inlined once
            parts.append({"heading": heading, "kind": "html", "body": body.to_html(
                full_html=False, include_plotlyjs=not plotly_inlined,
                config={"displaylogo": False, "responsive": True})})
            plotly_inlined = True
        else:
            parts.append({"heading": heading, "kind": "note", "body": str(body)})
    return render(e, "sections.html.j2", page_title=title, sections=parts, verdict=verdict,
                  passed=passed, kpis=kpis or [], verdict_note=verdict_note, nav=nav or [])


def write_page(path: Path, title: str, sections: list[tuple[str, object]], *, settings,
               **kwargs) -> Path:
    """Write the page; ``settings`` is required so that money reads in the project's base
    currency and its readers' grouping (lakh and crore for INR), never a default one."""
    from segflow.durable import write_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, render_page(title, sections, settings=settings, **kwargs)
                 .encode("utf-8"))
    return path

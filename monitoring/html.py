"""One self-contained HTML page from headed sections (tables, notes, plotly figures).

Every monitoring page (drift summary, trends, feedback) is a single file a reviewer can open
or attach to a ticket: no server, no CDN; plotly's script is inlined once.
"""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

_STYLE = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;
font-size:13px;text-align:right}td:only-child{text-align:left}th{background:#f3f3f3}.verdict-fail{color:#b00020}
.verdict-pass{color:#0a7d32}p.note{color:#555}"""


def render_page(title: str, sections: list[tuple[str, object]], verdict: str | None = None,
                passed: bool | None = None) -> str:
    """Sections are (heading, body); a body is a DataFrame, a plotly figure or plain text."""
    parts = [f"<h1>{html.escape(title)}</h1>"]
    if verdict:
        css = "verdict-pass" if passed else "verdict-fail"
        parts.append(f'<h2 class="{css}">{html.escape(verdict)}</h2>')
    plotly_inlined = False
    for heading, body in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        if isinstance(body, pd.DataFrame):
            parts.append(body.to_html(index=False, float_format=lambda v: f"{v:.4g}",
                                      na_rep="", border=0))
        elif hasattr(body, "to_html"):  # a plotly figure
            parts.append(body.to_html(full_html=False, include_plotlyjs=not plotly_inlined))
            plotly_inlined = True
        else:
            parts.append(f'<p class="note">{html.escape(str(body))}</p>')
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><style>{_STYLE}</style></head><body>{''.join(parts)}</body></html>")


def write_page(path: Path, title: str, sections: list[tuple[str, object]], **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_page(title, sections, **kwargs), encoding="utf-8")
    return path

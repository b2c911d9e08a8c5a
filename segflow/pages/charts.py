"""Charts as inline SVG: no script, no CDN, nothing to download, so a page opened from a
ticket attachment or an air-gapped laptop draws the same picture (and a test can read it)."""

from __future__ import annotations

import unicodedata
from hashlib import sha1
from html import escape

# one colour per kind of figure, the same on every page
PALETTE = {"assigned": "#2f6db5", "holdout": "#8fb3e0", "suppressed": "#c0504d",
           "unassigned": "#b9b9b9", "entered": "#1b7f3b", "exited": "#b00020",
           "moved": "#c77700", "stayed": "#9e9e9e"}
FALLBACK = ["#2f6db5", "#c77700", "#1b7f3b", "#7b4fa0", "#c0504d", "#3a9ca8", "#8c6d31"]

FONT_PX = 12  # the labels' size in segflow.css (svg.chart text)
WIDTH = 890  # the whole chart; labels take what they need of it, bars the rest
VALUE_W = 110  # room for the total printed after the longest bar
LABEL_MIN, LABEL_MAX, GAP = 120, 360, 10
# Advance widths in em, rounded up to the widest of a group in DejaVu Sans (the widest of
# the usual sans-serif fonts; Arial, Segoe UI, Roboto and Helvetica are narrower), so a
# label estimated to fit does fit whichever font the reader's browser picks.
_EM = {**dict.fromkeys(" .,:;'|!iljI", 0.34), **dict.fromkeys("ftr()[]-/", 0.42),
       **dict.fromkeys("mwMW%@", 1.0), "_": 0.5}


def colour(series: str, i: int) -> str:
    return PALETTE.get(series, FALLBACK[i % len(FALLBACK)])


def _char_em(c: str) -> float:
    if c in _EM:
        return _EM[c]
    if c.isascii():
        return 0.79 if c.isupper() else 0.65 if c.isalnum() else 0.84
    return 0.0 if unicodedata.combining(c) or unicodedata.category(c) == "Mn" else 1.0


def text_px(text: str) -> float:
    """Width a label takes on the page, estimated high: SVG text cannot be measured before
    a browser draws it, and a label that did not fit would be cut or run into its bar."""
    return FONT_PX * sum(_char_em(c) for c in text)


def fit(text: str, px: float) -> str:
    """``text`` as it fits in ``px``: whole, or its start and an ellipsis."""
    if text_px(text) <= px:
        return text
    room = px - text_px("…")
    used, kept = 0.0, []
    for c in text:
        used += FONT_PX * _char_em(c)
        if used > room:
            break
        kept.append(c)
    return "".join(kept).rstrip() + "…"


def stacked_bars(rows: list[tuple[str, dict[str, float]]], series: list[str], fmt,
                 title: str) -> str:
    """Horizontal bars, one per row label, stacked by ``series``; the total at the bar's end
    and each part's figure in its tooltip. ``fmt`` formats a value for the reader.

    The label column is as wide as the longest label needs (within bounds); a longer label
    keeps its start and ends in an ellipsis, the whole label in its tooltip. Labels start at
    the chart's left edge and are clipped to their column, so no font, however wide, can
    push one off the chart or across its bar."""
    if not rows:
        return ""
    label_w = min(max(max(text_px(label) for label, _ in rows) + GAP, LABEL_MIN), LABEL_MAX)
    bar_w, row_h, pad = WIDTH - label_w - VALUE_W, 22, 4
    most = max(sum(parts.values()) for _, parts in rows) or 1
    legend_h = 24
    height = legend_h + len(rows) * row_h + pad
    clip = "labels-" + sha1((title + "\n".join(r[0] for r in rows)).encode()).hexdigest()[:10]
    out = [f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {height}" '
           f'width="{WIDTH}" height="{height}" aria-label="{escape(title)}">'
           f"<title>{escape(title)}</title>"
           f'<clipPath id="{clip}"><rect x="0" y="0" width="{label_w - GAP:.1f}" '
           f'height="{height}"/></clipPath>']
    x = label_w
    for i, s in enumerate(series):
        out.append(f'<rect x="{x:.1f}" y="6" width="12" height="12" fill="{colour(s, i)}"/>'
                   f'<text x="{x + 16:.1f}" y="16" class="legend">{escape(s)}</text>')
        x += 24 + 7 * len(s)
    for r, (label, parts) in enumerate(rows):
        y = legend_h + r * row_h
        out.append(f'<text x="0" y="{y + 15}" class="label" clip-path="url(#{clip})">'
                   f"<title>{escape(label)}</title>{escape(fit(label, label_w - GAP))}</text>")
        x = float(label_w)
        for i, s in enumerate(series):
            v = parts.get(s, 0) or 0
            if v <= 0:
                continue
            w = max(bar_w * v / most, 1.0)
            out.append(f'<rect class="bar" x="{x:.1f}" y="{y + 3}" width="{w:.1f}" '
                       f'height="{row_h - 6}" fill="{colour(s, i)}">'
                       f"<title>{escape(label)}: {escape(fmt(v))} {escape(s)}</title></rect>")
            x += w
        out.append(f'<text x="{x + 6:.1f}" y="{y + 15}" class="value">'
                   f"{escape(fmt(sum(parts.values())))}</text>")
    out.append("</svg>")
    return "".join(out)

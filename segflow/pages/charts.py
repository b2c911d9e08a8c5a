"""Charts as inline SVG: no script, no CDN, nothing to download, so a page opened from a
ticket attachment or an air-gapped laptop draws the same picture (and a test can read it)."""

from __future__ import annotations

from html import escape

# one colour per kind of figure, the same on every page
PALETTE = {"assigned": "#2f6db5", "holdout": "#8fb3e0", "suppressed": "#c0504d",
           "unassigned": "#b9b9b9", "entered": "#1b7f3b", "exited": "#b00020",
           "moved": "#c77700", "stayed": "#9e9e9e"}
FALLBACK = ["#2f6db5", "#c77700", "#1b7f3b", "#7b4fa0", "#c0504d", "#3a9ca8", "#8c6d31"]


def colour(series: str, i: int) -> str:
    return PALETTE.get(series, FALLBACK[i % len(FALLBACK)])


def stacked_bars(rows: list[tuple[str, dict[str, float]]], series: list[str], fmt,
                 title: str) -> str:
    """Horizontal bars, one per row label, stacked by ``series``; the total at the bar's end
    and each part's figure in its tooltip. ``fmt`` formats a value for the reader."""
    if not rows:
        return ""
    label_w, bar_w, row_h, pad = 260, 520, 22, 4
    total_w = label_w + bar_w + 110
    most = max(sum(parts.values()) for _, parts in rows) or 1
    legend_h = 24
    height = legend_h + len(rows) * row_h + pad
    out = [f'<svg class="chart" role="img" viewBox="0 0 {total_w} {height}" '
           f'width="{total_w}" height="{height}" aria-label="{escape(title)}">'
           f"<title>{escape(title)}</title>"]
    x = label_w
    for i, s in enumerate(series):
        out.append(f'<rect x="{x}" y="6" width="12" height="12" fill="{colour(s, i)}"/>'
                   f'<text x="{x + 16}" y="16" class="legend">{escape(s)}</text>')
        x += 24 + 7 * len(s)
    for r, (label, parts) in enumerate(rows):
        y = legend_h + r * row_h
        short = label if len(label) <= 40 else label[:39] + "…"
        out.append(f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end" class="label">'
                   f"<title>{escape(label)}</title>{escape(short)}</text>")
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

"""Charts as inline SVG, drawn on the server: no JavaScript, nothing fetched from elsewhere.

Each function returns SVG markup (text escaped) that scales to the width of the page through its
``viewBox``; colours come from CSS classes in ``static/style.css``.
"""

from __future__ import annotations

from html import escape

from markupsafe import Markup

__all__ = ["grouped_bars", "target_bars", "fmt"]

_LABEL_W = 150
_BAR_W = 300
_VALUE_W = 70
_WIDTH = _LABEL_W + _BAR_W + _VALUE_W


def fmt(value: float | None, digits: int = 2) -> str:
    """1234.5 -> '1.234,5' (Vietnamese separators); None -> '—'."""
    if value is None:
        return "—"
    text = f"{value:,.{digits}f}".replace(",", "\u2009").replace(".", ",").replace("\u2009", ".")
    if "," in text:
        text = text.rstrip("0").rstrip(",")
    return text


def _label(text: str, limit: int = 22) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def grouped_bars(title: str, rows: list[tuple[str, list[float | None]]], series: list[tuple[str, str]], unit: str = "%") -> Markup:
    """Horizontal bars, one group per row and one bar per series: (label, [value per series])."""
    bar_h, gap = 12, 10
    group_h = bar_h * len(series) + gap
    legend_h = 24
    height = legend_h + group_h * len(rows) + 6
    top = max([v for _, vals in rows for v in vals if v is not None] + [0.0])
    scale = _BAR_W / top if top > 0 else 0.0
    out = [f'<svg class="chart" viewBox="0 0 {_WIDTH} {height}" role="img" aria-label="{escape(title)}" '
           f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    x = _LABEL_W
    for i, (name, css) in enumerate(series):
        out.append(f'<rect x="{x}" y="6" width="12" height="12" class="{css}"/>'
                   f'<text x="{x + 16}" y="16" class="legend">{escape(name)}</text>')
        x += 16 + 8 * len(name) + 16
    for r, (label, values) in enumerate(rows):
        y0 = legend_h + r * group_h
        out.append(f'<text x="{_LABEL_W - 6}" y="{y0 + bar_h * len(series) / 2 + 4:.1f}" class="axis" text-anchor="end">'
                   f'{escape(_label(label))}</text>')
        for s, value in enumerate(values):
            y = y0 + s * bar_h
            w = (value or 0.0) * scale
            out.append(f'<rect x="{_LABEL_W}" y="{y}" width="{w:.1f}" height="{bar_h - 2}" class="{series[s][1]}">'
                       f'<title>{escape(label)} — {escape(series[s][0])}: {fmt(value)}{unit}</title></rect>')
            out.append(f'<text x="{_LABEL_W + w + 4:.1f}" y="{y + bar_h - 3}" class="value">{fmt(value)}{escape(unit)}</text>')
    out.append(f'<line x1="{_LABEL_W}" y1="{legend_h - 2}" x2="{_LABEL_W}" y2="{height - 4}" class="axis-line"/></svg>')
    return Markup("".join(out))


def target_bars(title: str, targets: list[dict]) -> Markup:
    """One bar per target: the review's result, with a tick at the target; green when met, orange when not.

    `targets`: dicts with name, result, target, direction ('không quá' / 'ít nhất'), assessment.
    """
    row_h = 34
    height = row_h * len(targets) + 8
    top = max([t["result"] or 0.0 for t in targets] + [t["target"] or 0.0 for t in targets] + [0.0])
    scale = _BAR_W / top if top > 0 else 0.0
    out = [f'<svg class="chart" viewBox="0 0 {_WIDTH} {height}" role="img" aria-label="{escape(title)}" '
           f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    for i, t in enumerate(targets):
        y = 4 + i * row_h
        met = (t.get("assessment") or "").strip().lower() == "đạt"
        css = "bar-met" if met else "bar-unmet"
        w = (t["result"] or 0.0) * scale
        out.append(f'<text x="{_LABEL_W - 6}" y="{y + 14}" class="axis" text-anchor="end">{escape(_label(t["name"]))}</text>')
        out.append(f'<rect x="{_LABEL_W}" y="{y + 4}" width="{w:.1f}" height="14" class="{css}">'
                   f'<title>{escape(t["name"])}: {fmt(t["result"])} (chỉ tiêu {escape(t.get("direction") or "")} '
                   f'{fmt(t["target"])})</title></rect>')
        out.append(f'<text x="{_LABEL_W + w + 4:.1f}" y="{y + 15}" class="value">{fmt(t["result"])}</text>')
        if t["target"] is not None:
            tx = _LABEL_W + t["target"] * scale
            out.append(f'<line x1="{tx:.1f}" y1="{y}" x2="{tx:.1f}" y2="{y + 22}" class="target-line"/>')
            out.append(f'<text x="{_LABEL_W}" y="{y + 30}" class="note">chỉ tiêu {escape(t.get("direction") or "")} '
                       f'{fmt(t["target"])} · {escape(t.get("assessment") or "")}</text>')
    out.append("</svg>")
    return Markup("".join(out))

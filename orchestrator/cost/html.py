"""A cost report as one self-contained HTML page: a stacked bar chart of cost per day by group (inline SVG),
a legend and a table. Nothing is fetched: no scripts, styles, fonts or images from elsewhere. The report's
data is also embedded as JSON (``<script type="application/json" id="trainctl-cost-data">``) for tools.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator.cost.reports import GroupCost, Report

# Okabe-Ito and Tableau colours: distinguishable, also for colour-blind readers; "other" is grey.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#4E79A7", "#B07AA1")
OTHER_COLOUR = "#9A9A9A"
WIDTH, HEIGHT = 960, 360
LEFT, RIGHT, TOP, BOTTOM = 72, 16, 16, 44
MAX_X_LABELS = 12

_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:1000px}
body{color:#222;padding:0 1rem}
h1{font-size:1.4rem;margin:0 0 .25rem}.sub{color:#666;margin:0 0 1.25rem}
.total{font-size:2rem;font-weight:600;margin:.5rem 0 1rem}.total small{font-size:.9rem;color:#666;font-weight:400}
svg{width:100%;height:auto;background:#fff}svg text{fill:#555}svg rect:hover{opacity:.8}
.legend{display:flex;flex-wrap:wrap;gap:.4rem 1.2rem;margin:.75rem 0 1.5rem}
.sw{display:inline-block;width:.8rem;height:.8rem;border-radius:2px;margin-right:.35rem;vertical-align:-1px}
table{border-collapse:collapse;width:100%}th,td{padding:.35rem .6rem;border-bottom:1px solid #eee;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}.notes{color:#666;font-size:.9rem}
.empty{color:#666;padding:3rem;text-align:center;border:1px dashed #ccc}
"""


def render_html(report: Report, *, title: str, generated: dt.datetime | None = None) -> str:
    """The page for ``report``: chart of cost per day by group, legend, table and notes."""
    generated = generated or dt.datetime.now(dt.UTC)
    series = chart_series(report.groups)
    colours = {name: colour for name, colour, _ in series}
    kind = "estimated" if report.estimate else "actual (AWS Cost Explorer)"
    span = f"{report.days[0]} to {report.days[-1]} (UTC)" if report.days else "no days with cost"
    by = report.by.replace("-", " ")
    total = f"{headline_usd(report.total_usd)} <small>{escape(report.currency)}, {report.jobs} job(s)</small>"
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="sub">{escape(kind)} cost per day by {escape(by)}, {escape(span)}</p>',
        f'<div class="total">{total}</div>',
        _chart(report.days, series) if report.groups else '<div class="empty">No cost in this window.</div>',
        _legend(series),
        _table(report.groups, report.total_usd, colours),
        _notes(report, generated),
        _data(report),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def chart_series(groups: list[GroupCost]) -> list[tuple[str, str, dict[str, float]]]:
    """(name, colour, usd per day) per bar segment: the largest groups, the rest merged into "other"."""
    ranked, limit = sorted(groups, key=lambda g: (-g.cost_usd, g.group)), len(PALETTE)
    head, tail = ranked[:limit], ranked[limit:]
    series = [(g.group, PALETTE[i], g.days) for i, g in enumerate(head)]
    if tail:
        merged: dict[str, float] = {}
        for group in tail:
            for day, usd in group.days.items():
                merged[day] = merged.get(day, 0.0) + usd
        series.append((f"other ({len(tail)} group{'s' if len(tail) > 1 else ''})", OTHER_COLOUR, merged))
    return series


def _chart(days: list[str], series: list[tuple[str, str, dict[str, float]]]) -> str:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    totals = [sum(s[2].get(day, 0.0) for s in series) for day in days]
    top, step = _scale(max(totals, default=0.0))
    slot = plot_w / max(1, len(days))
    bar = max(1.0, slot * 0.8)
    out = [f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="cost per day" font-family="sans-serif" font-size="11">']
    for i in range(round(top / step) + 1):
        y = TOP + plot_h - plot_h * (i * step) / top
        out.append(f'<line stroke="#e5e5e5" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_money(i * step)}</text>')
    out.append(f'<line stroke="#999" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" y2="{TOP + plot_h}"/>')
    base = [0.0] * len(days)
    for name, colour, per_day in series:
        out.append(f'<g data-group="{escape(name)}" fill="{colour}">')
        for i, day in enumerate(days):
            usd = per_day.get(day, 0.0)
            if usd <= 0:
                continue
            height = plot_h * usd / top
            y = TOP + plot_h - plot_h * base[i] / top - height
            base[i] += usd
            x = LEFT + i * slot + (slot - bar) / 2
            label = f"{name} · {day}: {_money(usd)}"
            box = f'x="{x:.2f}" y="{y:.2f}" width="{bar:.2f}" height="{max(height, 0.5):.2f}"'
            out.append(f"<rect {box}><title>{escape(label)}</title></rect>")
        out.append("</g>")
    every = max(1, math.ceil(len(days) / MAX_X_LABELS))
    for i in range(0, len(days), every):
        x = LEFT + i * slot + slot / 2
        out.append(f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">{days[i][5:]}</text>')
    out.append("</svg>")
    return "\n".join(out)


def _legend(series: list[tuple[str, str, dict[str, float]]]) -> str:
    items = "".join(f'<span><span class="sw" style="background:{c}"></span>{escape(n)}</span>' for n, c, _ in series)
    return f'<div class="legend">{items}</div>'


def _table(groups: list[GroupCost], total: float, colours: dict[str, str]) -> str:
    rows = []
    for group in groups:
        share = f"{100 * group.cost_usd / total:.1f}%" if total > 0 else "-"
        swatch = f'<span class="sw" style="background:{colours.get(group.group, OTHER_COLOUR)}"></span>'
        rows.append(
            f"<tr><td>{swatch}{escape(group.group)}</td><td class='n'>{group.jobs}</td>"
            f"<td class='n'>{_money(group.cost_usd, 4)}</td><td class='n'>{share}</td></tr>"
        )
    head = "<tr><th>group</th><th class='n'>jobs</th><th class='n'>cost</th><th class='n'>share</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def _notes(report: Report, generated: dt.datetime) -> str:
    window = report.window.to_dict()
    since = window["since"] or "first job"
    lines = [f"Window: {since} to {window['until']}. Generated {generated:%Y-%m-%d %H:%M} UTC by trainctl."]
    if report.estimate:
        lines.append("Estimates: recorded job costs (or cost accrued so far), spread over the days each job ran.")
    lines.extend(report.notices)
    return '<p class="notes">' + "<br>".join(escape(line) for line in lines) + "</p>"


def _data(report: Report) -> str:
    doc = report.to_dict() | {"days": report.days, "series": {g.group: g.days for g in report.groups}}
    text = json.dumps(doc, separators=(",", ":")).replace("<", "\\u003c")  # no markup can end the script element
    return f'<script type="application/json" id="trainctl-cost-data">{text}</script>'


def _scale(peak: float) -> tuple[float, float]:
    """(axis top, tick step): a round step giving 4 or 5 ticks above zero."""
    if peak <= 0:
        return 1.0, 0.25
    raw = peak / 4
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return step * math.ceil(peak / step), step


def headline_usd(usd: float) -> str:
    """A total as the page's headline shows it: cents, or two significant digits below a cent ($0.0029)."""
    if usd == 0 or abs(usd) >= 0.01:
        return f"${usd:,.2f}"
    decimals = min(-math.floor(math.log10(abs(usd))) + 1, 10)
    return f"${usd:.{decimals}f}"


def _money(usd: float, decimals: int | None = None) -> str:
    if decimals is not None:
        return f"${usd:,.{decimals}f}"
    if usd >= 1000:
        return f"${usd / 1000:,.1f}k"
    return f"${usd:,.2f}" if usd >= 1 or usd == 0 else f"${usd:.3g}"

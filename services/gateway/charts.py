"""Charts as inline SVG rendered on the server (no script, no CDN).

Each function returns ``Markup`` for a template; every label and number is
escaped here. Colours come from presentation attributes and CSS classes in
console.css (the console's CSP allows no inline style).
"""

from __future__ import annotations

from markupsafe import Markup, escape

BAR_HEIGHT = 22
LABEL_WIDTH = 170
CHART_WIDTH = 560
LINE_HEIGHT = 200
PALETTE = ("#2f6fb3", "#c0392b", "#27895b", "#b7791f")


def number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "–"
    if unit == "%":
        return f"{value * 100:.1f}%"
    if unit == "s":
        return _duration(value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours < 48 else f"{hours // 24}d{hours % 24}h"


def _open(chart_id: str, title: str, width: int, height: int) -> list[str]:
    """An accessible ``<svg>`` opening: role img, labelled by its title."""
    return [
        f'<svg id="{escape(chart_id)}" class="chart" role="img" aria-labelledby="{escape(chart_id)}-title" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
    ]


def bar_chart(chart_id: str, title: str, rows: list[tuple[str, float | None]], unit: str = "") -> Markup:
    """Horizontal bars, one per ``(label, value)``; ``None`` draws no bar and reads "–"."""
    peak = max((v for _, v in rows if v is not None), default=0) or 1
    height = max(1, len(rows)) * BAR_HEIGHT + 8
    span = CHART_WIDTH - LABEL_WIDTH - 70
    parts = _open(chart_id, title, CHART_WIDTH, height)
    for i, (label, value) in enumerate(rows):
        y = 4 + i * BAR_HEIGHT
        width = 0 if value is None else max(1, round(span * value / peak))
        parts.append(
            f'<text x="{LABEL_WIDTH - 6}" y="{y + 15}" text-anchor="end" class="label">{escape(label)}</text>'
            f'<rect x="{LABEL_WIDTH}" y="{y + 3}" width="{width}" height="{BAR_HEIGHT - 6}" '
            f'fill="{PALETTE[0]}"><title>{escape(label)}: {escape(number(value, unit))}</title></rect>'
            f'<text x="{LABEL_WIDTH + width + 6}" y="{y + 15}" class="value">'
            f"{escape(number(value, unit))}</text>"
        )
    if not rows:
        parts.append(f'<text x="{LABEL_WIDTH}" y="18" class="value">–</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(
    chart_id: str,
    title: str,
    labels: list[str],
    series: dict[str, list[float | None]],
    bounds: tuple[float, float] | None = None,
) -> Markup:
    """Lines over ``labels`` (x), one per named series; gaps where a value is None.
    ``bounds``: the y axis's fixed range (else the values' own)."""
    values = [v for points in series.values() for v in points if v is not None]
    low, high = bounds or ((min(values), max(values)) if values else (0, 1))
    if high == low:
        low, high = low - 1, high + 1
    left, right, top, bottom = 50, 20, 14, 40
    width, height = CHART_WIDTH, LINE_HEIGHT
    step = (width - left - right) / max(1, len(labels) - 1)

    def x(i: int) -> float:
        return round(left + i * step, 1)

    def y(v: float) -> float:
        return round(top + (high - v) * (height - top - bottom) / (high - low), 1)

    parts = [
        *_open(chart_id, title, width, height),
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" '
        'class="axis"/>',
        *(
            f'<text x="{left - 6}" y="{y(v) + 4}" text-anchor="end" class="label">{escape(f"{v:g}")}</text>'
            for v in (high, low)
        ),
    ]
    every = max(1, len(labels) // 6)
    for i, label in enumerate(labels):
        if i % every == 0:
            parts.append(
                f'<text x="{x(i)}" y="{height - bottom + 16}" text-anchor="middle" class="label">'
                f"{escape(label)}</text>"
            )
    for n, (name, points) in enumerate(series.items()):
        colour = PALETTE[n % len(PALETTE)]
        parts += _series(name, points, labels, colour, x, y)
        parts.append(
            f'<text x="{left + 8 + n * 110}" y="{height - 6}" fill="{colour}" class="legend">'
            f"{escape(name)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _series(name: str, points: list[float | None], labels: list[str], colour: str, x, y) -> list[str]:
    """One series of a line chart: a line through each run of values (a None breaks it),
    and a dot with its value's tooltip on every point; ``x``/``y`` map index and value."""
    runs: list[list[str]] = []
    run: list[str] = []
    for i, v in enumerate(points):
        if v is None:
            runs, run = runs + [run] if run else runs, []
        else:
            run.append(f"{x(i)},{y(v)}")
    runs += [run] if run else []
    parts = [
        f'<polyline points="{" ".join(r)}" fill="none" stroke="{colour}" stroke-width="2"/>' for r in runs
    ]
    for i, v in enumerate(points):
        if v is not None:
            parts.append(
                f'<circle cx="{x(i)}" cy="{y(v)}" r="3" fill="{colour}">'
                f"<title>{escape(name)} {escape(labels[i])}: {escape(f'{v:g}')}</title></circle>"
            )
    return parts

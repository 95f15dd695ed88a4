"""Server-rendered SVG charts that keep the Content-Security-Policy strict.

No charting library is used: the ones that render SVG on the server
(pygal, matplotlib) write inline ``style`` attributes or ``<style>``
elements, which ``style-src 'self'`` refuses, and the browser ones need a
script. These charts are plain SVG elements whose colours come from classes
in ``static/css/app.css``; geometry is in presentation attributes, which
the CSP allows. Each chart is an ``img`` with a title and a description for
screen readers, and every page shows the same numbers in a table beside it
(with a CSV download), so the chart is never the only way to read them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH = 720
HEIGHT = 280
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 56


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]
    css: str  # a class in app.css: chart-s1 ... chart-s4, chart-approve, chart-review, chart-decline


@dataclass(frozen=True)
class Line:
    """A horizontal reference line (a threshold) at ``value``."""

    value: float
    label: str
    css: str = "chart-ref"


def percent(value: float) -> str:
    return f"{value * 100:.0f}%"


def _fmt(number: float) -> str:
    return f"{number:.1f}"


def _bottom(labels: Sequence[str]) -> int:
    """Room under the plot: more when the category labels are long enough to be slanted."""
    return BOTTOM + 70 if _slanted(labels) else BOTTOM


def _short(label: str, limit: int = 14) -> str:
    """A slanted label cut to fit left of the first category (the bar's tooltip and the table have it whole)."""
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _label_every(labels: Sequence[str]) -> int:
    """Label every n-th category: at most ~12 labels, evenly spaced."""
    return max(1, -(-len(labels) // 12))


def _slanted(labels: Sequence[str]) -> bool:
    slot = (WIDTH - LEFT - RIGHT) / max(1, len(labels)) * _label_every(labels)
    return max((len(label) for label in labels), default=0) * 6.5 > slot


def _svg(title: str, description: str, body: list[str], legend: Sequence[Series], slug: str) -> SafeString:
    legend_items = []
    x = LEFT
    for series in legend:
        legend_items.append(
            f'<rect x="{x}" y="{HEIGHT - 16}" width="12" height="12" class="{escape(series.css)}"></rect>'
            f'<text x="{x + 16}" y="{HEIGHT - 6}" class="chart-label">{escape(series.name)}</text>'
        )
        x += 24 + 8 * len(series.name)
    return mark_safe(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{slug}-title {slug}-desc" '
        f'data-chart="{escape(slug)}" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{slug}-title">{escape(title)}</title><desc id="{slug}-desc">{escape(description)}</desc>'
        + "".join(body)
        + "".join(legend_items)
        + "</svg>"
    )


def _axes(y_max: float, y_format: Callable[[float], str], labels: Sequence[str], slot: float) -> list[str]:
    plot_h = HEIGHT - TOP - _bottom(labels)
    slanted = _slanted(labels)
    parts = []
    for step in range(5):
        value = y_max * step / 4
        y = TOP + plot_h - plot_h * step / 4
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_fmt(y)}" y2="{_fmt(y)}" class="chart-grid"></line>'
            f'<text x="{LEFT - 6}" y="{_fmt(y + 4)}" class="chart-label chart-end">{escape(y_format(value))}</text>'
        )
    every = _label_every(labels)
    for index, label in enumerate(labels):
        if index % every:
            continue
        x = LEFT + slot * (index + 0.5)
        y = TOP + plot_h + 16
        if slanted:  # a presentation attribute, which the CSP allows (a style attribute it would not)
            parts.append(
                f'<text x="{_fmt(x)}" y="{y}" transform="rotate(-35 {_fmt(x)} {y})" class="chart-label chart-end">'
                f"{escape(_short(label))}</text>"
            )
        else:
            parts.append(f'<text x="{_fmt(x)}" y="{y}" class="chart-label chart-middle">{escape(label)}</text>')
    parts.append(
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" y2="{TOP + plot_h}" class="chart-axis"></line>'
    )
    return parts


def _reference_lines(y_max: float, plot_h: float, lines: Sequence[Line]) -> list[str]:
    """Threshold lines, drawn last so no bar hides them or their labels."""
    parts = []
    for line in lines:
        if 0 <= line.value <= y_max:
            y = TOP + plot_h - plot_h * line.value / y_max
            parts.append(
                f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_fmt(y)}" y2="{_fmt(y)}" class="{escape(line.css)}"></line>'
                f'<text x="{WIDTH - RIGHT - 4}" y="{_fmt(y - 4)}" class="chart-label chart-end chart-ref-label">'
                f"{escape(line.label)}</text>"
            )
    return parts


def _y_max(values: Sequence[float], fixed: float | None) -> float:
    if fixed is not None:
        return fixed
    top = max([v for v in values if v is not None] or [0])
    return top * 1.1 if top > 0 else 1.0


def bar_chart(
    *,
    slug: str,
    title: str,
    description: str,
    labels: Sequence[str],
    series: Sequence[Series],
    stacked: bool = False,
    y_max: float | None = None,
    y_format: Callable[[float], str] = lambda v: f"{v:,.0f}",
    lines: Sequence[Line] = (),
) -> SafeString:
    """Vertical bars per label: grouped side by side, or ``stacked``."""
    if stacked:
        totals = [sum(s.values[i] or 0 for s in series) for i in range(len(labels))]
    else:
        totals = [v or 0 for s in series for v in s.values]
    top = _y_max(totals, y_max)
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - _bottom(labels)
    slot = plot_w / max(1, len(labels))
    body = _axes(top, y_format, labels, slot)
    for index in range(len(labels)):
        base = 0.0
        for number, s in enumerate(series):
            value = s.values[index] or 0
            height = plot_h * value / top
            if stacked:
                x, width = LEFT + slot * index + slot * 0.1, slot * 0.8
                y = TOP + plot_h - plot_h * base / top - height
                base += value
            else:
                width = slot * 0.8 / len(series)
                x = LEFT + slot * index + slot * 0.1 + width * number
                y = TOP + plot_h - height
            body.append(
                f'<rect x="{_fmt(x)}" y="{_fmt(y)}" width="{_fmt(max(width, 0.5))}" height="{_fmt(height)}" '
                f'class="{escape(s.css)}"><title>{escape(labels[index])}: {escape(s.name)} '
                f"{escape(y_format(value))}</title></rect>"
            )
    body += _reference_lines(top, plot_h, lines)
    return _svg(title, description, body, series, slug)


def line_chart(
    *,
    slug: str,
    title: str,
    description: str,
    labels: Sequence[str],
    series: Sequence[Series],
    y_max: float | None = None,
    y_format: Callable[[float], str] = lambda v: f"{v:,.0f}",
    lines: Sequence[Line] = (),
) -> SafeString:
    """One polyline per series over the labels; gaps (``None``) break the line."""
    top = _y_max([v for s in series for v in s.values], y_max)
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - _bottom(labels)
    slot = plot_w / max(1, len(labels))
    body = _axes(top, y_format, labels, slot)
    for s in series:
        segment: list[str] = []
        segments = []
        for index, value in enumerate(s.values):
            if value is None:
                if segment:
                    segments.append(segment)
                segment = []
                continue
            x = LEFT + slot * (index + 0.5)
            y = TOP + plot_h - plot_h * min(value, top) / top
            segment.append(f"{_fmt(x)},{_fmt(y)}")
            body.append(
                f'<circle cx="{_fmt(x)}" cy="{_fmt(y)}" r="3" class="{escape(s.css)}">'
                f"<title>{escape(labels[index])}: {escape(s.name)} {escape(y_format(value))}</title></circle>"
            )
        if segment:
            segments.append(segment)
        for points in segments:
            body.append(f'<polyline points="{" ".join(points)}" class="chart-line {escape(s.css)}"></polyline>')
    body += _reference_lines(top, plot_h, lines)
    return _svg(title, description, body, series, slug)


def calibration_chart(
    *, slug: str, title: str, description: str, points: Sequence[tuple[float, float]], series_name: str
) -> SafeString:
    """Realised default rate (y) against mean predicted probability (x), both 0-100%, with the diagonal."""
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    labels = [f"{step * 10}%" for step in range(11)]
    body = []
    for step in range(5):
        y = TOP + plot_h - plot_h * step / 4
        body.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_fmt(y)}" y2="{_fmt(y)}" class="chart-grid"></line>'
            f'<text x="{LEFT - 6}" y="{_fmt(y + 4)}" class="chart-label chart-end">{step * 25}%</text>'
        )
    for step, label in enumerate(labels):
        if step % 2:
            continue
        x = LEFT + plot_w * step / 10
        body.append(f'<text x="{_fmt(x)}" y="{TOP + plot_h + 16}" class="chart-label chart-middle">{label}</text>')
    body.append(
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP}" class="chart-ref"></line>'
        f'<text x="{WIDTH - RIGHT - 4}" y="{TOP + 14}" class="chart-label chart-end">perfect calibration</text>'
    )
    coordinates = []
    for predicted, realised in points:
        x = LEFT + plot_w * predicted
        y = TOP + plot_h - plot_h * realised
        coordinates.append(f"{_fmt(x)},{_fmt(y)}")
        body.append(
            f'<circle cx="{_fmt(x)}" cy="{_fmt(y)}" r="4" class="chart-s1"><title>predicted {percent(predicted)}, '
            f"realised {percent(realised)}</title></circle>"
        )
    if coordinates:
        body.append(f'<polyline points="{" ".join(coordinates)}" class="chart-line chart-s1"></polyline>')
    return _svg(title, description, body, [Series(series_name, [], "chart-s1")], slug)

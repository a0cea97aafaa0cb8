"""Charts drawn on the server as inline SVG: no JavaScript, nothing fetched from the internet.

Three shapes cover the dashboard: columns (stacked by series) over weeks, horizontal
bars (stacked by segment) for rankings, and lines over weeks for percentages. Every
chart has a ``<title>`` and a ``<desc>`` (``role="img"``); every bar, segment and
point is a link to the claims behind it, with its own ``<title>`` (the tooltip and
what a screen reader says). All text is escaped.
"""

from dataclasses import dataclass, field
from math import floor, log10

from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

PALETTE = ("#417690", "#e07b39", "#5b9e4d", "#b8475a", "#8064a2", "#c9a227", "#4aa3a2", "#7f7f7f", "#d17fb0")
FONT = 'font-family="system-ui, sans-serif" font-size="11"'


@dataclass
class Series:
    """One colour of a chart: a value per x label (None: no point), each with a link and a tooltip."""

    name: str
    values: list
    hrefs: list
    titles: list
    color: str = ""


@dataclass
class Row:
    """One horizontal bar: a label, its segments as (series name, value, href, title), the text at its end."""

    label: str
    segments: list = field(default_factory=list)
    text: str = ""
    href: str = ""


def _html(template: str, *args) -> SafeString:
    """Like ``format_html``, but numbers keep their format specs (``{:.1f}``); all text is escaped."""
    return mark_safe(template.format(*(a if isinstance(a, int | float) else conditional_escape(a) for a in args)))


def _colored(series: list[Series]) -> list[Series]:
    for n, one in enumerate(series):
        one.color = one.color or PALETTE[n % len(PALETTE)]
    return series


def nice_ceiling(value: float) -> float:
    """The axis maximum: four ticks of 1, 2, 2.5 or 5 times a power of ten, reaching at least ``value``."""
    if value <= 0:
        return 4
    quarter = value / 4
    power = 10 ** floor(log10(quarter))
    for step in (1, 2, 2.5, 5, 10):
        if quarter <= step * power:
            return 4 * step * power
    return 40 * power


def _number(value: float) -> str:
    if value >= 10_000:
        return f"{value / 1000:,.0f}k"
    return f"{value:,.0f}" if float(value).is_integer() or value >= 100 else f"{value:,.1f}"


def _frame(chart_id: str, title: str, desc: str, width: int, height: int, body: list) -> SafeString:
    head = _html(
        '<svg class="chart" id="{}" role="img" aria-labelledby="{}-title {}-desc" viewBox="0 0 {} {}" '
        'width="{}" height="{}" xmlns="http://www.w3.org/2000/svg" {}>'
        '<title id="{}-title">{}</title><desc id="{}-desc">{}</desc>',
        chart_id,
        chart_id,
        chart_id,
        width,
        height,
        width,
        height,
        mark_safe(FONT),
        chart_id,
        title,
        chart_id,
        desc,
    )
    return mark_safe(head + "".join(body) + "</svg>")


def _y_axis(left: int, top: int, plot_w: int, plot_h: int, y_max: float, y_label: str, suffix: str = "") -> list:
    parts = []
    for k in range(5):
        value = y_max * k / 4
        y = top + plot_h - plot_h * k / 4
        parts.append(
            _html(
                '<line x1="{}" x2="{}" y1="{:.1f}" y2="{:.1f}" stroke="#ddd"/>'
                '<text x="{}" y="{:.1f}" text-anchor="end" fill="#555">{}{}</text>',
                left,
                left + plot_w,
                y,
                y,
                left - 4,
                y + 4,
                _number(value),
                suffix,
            )
        )
    parts.append(
        _html(
            '<text class="axis-label" transform="translate(12 {:.1f}) rotate(-90)" text-anchor="middle" fill="#333">{}</text>',
            top + plot_h / 2,
            y_label,
        )
    )
    return parts


def _x_labels(labels: list[str], left: int, step: float, baseline: float, x_label: str, width: int) -> list:
    rotate = len(labels) > 8
    parts = []
    for n, label in enumerate(labels):
        x = left + step * (n + 0.5)
        if rotate:
            parts.append(
                _html(
                    '<text x="{:.1f}" y="{:.1f}" text-anchor="end" transform="rotate(-45 {:.1f} {:.1f})" fill="#555">{}</text>',
                    x,
                    baseline + 14,
                    x,
                    baseline + 14,
                    label,
                )
            )
        else:
            parts.append(
                _html('<text x="{:.1f}" y="{:.1f}" text-anchor="middle" fill="#555">{}</text>', x, baseline + 14, label)
            )
    parts.append(
        _html(
            '<text class="axis-label" x="{:.1f}" y="{}" text-anchor="middle" fill="#333">{}</text>',
            left + step * len(labels) / 2,
            baseline + (52 if rotate else 32),
            x_label,
        )
    )
    return parts


def column_chart(
    *, chart_id: str, title: str, desc: str, x_labels: list[str], series: list[Series], x_label: str, y_label: str
) -> SafeString:
    """Columns over the x labels, the series stacked; the total above each column."""
    series = _colored(series)
    totals = [sum(one.values[n] or 0 for one in series) for n in range(len(x_labels))]
    y_max = nice_ceiling(max(totals, default=0))
    left, top, plot_h = 56, 18, 200
    step = max(28, min(64, 640 / max(len(x_labels), 1)))
    plot_w = int(step * len(x_labels))
    width, height = left + plot_w + 12, top + plot_h + (80 if len(x_labels) > 8 else 52)
    body = _y_axis(left, top, plot_w, plot_h, y_max, y_label)
    baseline = top + plot_h
    for n in range(len(x_labels)):
        x = left + step * n + step * 0.15
        y = baseline
        for one in series:
            value = one.values[n] or 0
            if not value:
                continue
            h = plot_h * value / y_max
            y -= h
            body.append(
                _html(
                    '<a href="{}"><rect class="bar" x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" fill="{}">'
                    "<title>{}</title></rect></a>",
                    one.hrefs[n],
                    x,
                    y,
                    step * 0.7,
                    h,
                    one.color,
                    one.titles[n],
                )
            )
        if any(one.values[n] is not None for one in series):  # a measured 0 is shown as 0, not as nothing
            body.append(
                _html(
                    '<text class="value" x="{:.1f}" y="{:.1f}" text-anchor="middle" fill="#222">{}</text>',
                    left + step * (n + 0.5),
                    y - 3,
                    _number(totals[n]),
                )
            )
    body.append(_html('<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="#333"/>', left, left + plot_w, baseline, baseline))
    body += _x_labels(x_labels, left, step, baseline, x_label, width)
    return _frame(chart_id, title, desc, width, height, body)


def bar_chart(
    *, chart_id: str, title: str, desc: str, rows: list[Row], x_label: str, label_width: int = 230, colors=None
) -> SafeString:
    """Horizontal bars, one per row, each stacked from its segments; the row's text at the bar's end."""
    totals = [sum(value for _, value, _, _ in row.segments) for row in rows]
    x_max = nice_ceiling(max(totals, default=0))
    names = list(dict.fromkeys(name for row in rows for name, *_ in row.segments))
    colors = {name: (colors or {}).get(name) or PALETTE[n % len(PALETTE)] for n, name in enumerate(names)}
    top, bar_h, gap, plot_w = 8, 18, 8, 360
    left = label_width
    height = top + len(rows) * (bar_h + gap) + 40
    width = left + plot_w + 130
    body = []
    for k in range(5):
        x = left + plot_w * k / 4
        body.append(
            _html(
                '<line x1="{:.1f}" x2="{:.1f}" y1="{}" y2="{}" stroke="#eee"/>'
                '<text x="{:.1f}" y="{}" text-anchor="middle" fill="#555">{}</text>',
                x,
                x,
                top,
                height - 34,
                x,
                height - 20,
                _number(x_max * k / 4),
            )
        )
    for n, row in enumerate(rows):
        y = top + n * (bar_h + gap)
        label = _html(
            '<text x="{}" y="{:.1f}" text-anchor="end" fill="#222">{}</text>', left - 6, y + bar_h * 0.7, row.label
        )
        body.append(_html('<a href="{}">{}</a>', row.href, label) if row.href else label)
        x = left
        for name, value, href, tip in row.segments:
            if not value:
                continue
            w = plot_w * value / x_max
            body.append(
                _html(
                    '<a href="{}"><rect class="bar" x="{:.1f}" y="{}" width="{:.1f}" height="{}" fill="{}">'
                    "<title>{}</title></rect></a>",
                    href,
                    x,
                    y,
                    w,
                    bar_h,
                    colors[name],
                    tip,
                )
            )
            x += w
        body.append(
            _html('<text class="value" x="{:.1f}" y="{:.1f}" fill="#222">{}</text>', x + 4, y + bar_h * 0.7, row.text)
        )
    body.append(
        _html(
            '<text class="axis-label" x="{:.1f}" y="{}" text-anchor="middle" fill="#333">{}</text>',
            left + plot_w / 2,
            height - 4,
            x_label,
        )
    )
    return _frame(chart_id, title, desc, width, height, body)


def line_chart(
    *,
    chart_id: str,
    title: str,
    desc: str,
    x_labels: list[str],
    series: list[Series],
    x_label: str,
    y_label: str,
    y_max: float | None = None,
    suffix: str = "",
) -> SafeString:
    """One line per series over the x labels; a gap where a value is None; each point a link."""
    series = _colored(series)
    values = [v for one in series for v in one.values if v is not None]
    y_max = y_max or nice_ceiling(max(values, default=0))
    left, top, plot_h = 56, 18, 200
    step = max(28, min(64, 640 / max(len(x_labels), 1)))
    plot_w = int(step * len(x_labels))
    width, height = left + plot_w + 12, top + plot_h + (80 if len(x_labels) > 8 else 52)
    body = _y_axis(left, top, plot_w, plot_h, y_max, y_label, suffix)
    baseline = top + plot_h
    for one in series:
        points, path = [], []
        for n, value in enumerate(one.values):
            if value is None:
                if path:
                    points.append(path)
                path = []
                continue
            x, y = left + step * (n + 0.5), baseline - plot_h * min(value, y_max) / y_max
            path.append((x, y, n, value))
        if path:
            points.append(path)
        for run in points:
            if len(run) > 1:
                d = " ".join(f"{'M' if k == 0 else 'L'}{x:.1f},{y:.1f}" for k, (x, y, _, _) in enumerate(run))
                body.append(_html('<path d="{}" fill="none" stroke="{}" stroke-width="2"/>', d, one.color))
            for x, y, n, _value in run:
                body.append(
                    _html(
                        '<a href="{}"><circle class="point" cx="{:.1f}" cy="{:.1f}" r="4" fill="{}">'
                        "<title>{}</title></circle></a>",
                        one.hrefs[n],
                        x,
                        y,
                        one.color,
                        one.titles[n],
                    )
                )
    body.append(_html('<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="#333"/>', left, left + plot_w, baseline, baseline))
    body += _x_labels(x_labels, left, step, baseline, x_label, width)
    return _frame(chart_id, title, desc, width, height, body)


def legend(series_or_names, colors=None) -> SafeString:
    """The colours of a chart, as an HTML list beside it (``colors``: name → colour, as given to the chart)."""
    items = []
    for n, one in enumerate(series_or_names):
        if isinstance(one, Series):
            name, color = one.name, one.color
        else:
            name, color = one, (colors or {}).get(one) or PALETTE[n % len(PALETTE)]
        items.append(
            _html(
                '<li><span class="swatch" style="background:{}"></span>{}</li>',
                color or PALETTE[n % len(PALETTE)],
                name,
            )
        )
    return mark_safe('<ul class="legend">' + "".join(items) + "</ul>")

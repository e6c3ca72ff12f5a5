"""Charts drawn on the server as SVG: no JavaScript, nothing fetched, styled by admin.css.

The markup uses presentation attributes and classes only (no ``style`` attribute), so it
passes the strict Content-Security-Policy when inlined in a page.
"""

from __future__ import annotations

import math
from datetime import date

from flask_babel import format_decimal, format_number
from flask_babel import gettext as _
from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 44, 52, 16, 34


GRID_STEPS = 4  # the axes' labels: 0, a quarter, …, the maximum


def _nice_max(value: int) -> int:
    """A round axis maximum at or above ``value`` whose quarters are whole numbers.

    The axes count signatures: a label of 1,2 or 3,8 (quarters of 5) reads as a count
    that cannot be.  The step between labels is 1, 2, 2.5 (from 25 on) or 5 × 10ⁿ, and
    at least 1: maxima 4, 8, 20, 40, 80, 100, 200, 400, 800, 1 000, 2 000 …
    """
    needed = max(value, 1) / GRID_STEPS
    magnitude = 10 ** max(int(math.floor(math.log10(needed))), 0)
    for factor in (1, 2, 2.5, 5, 10):
        step = factor * magnitude
        if step >= needed and step == int(step) and (factor != 2.5 or magnitude >= 10):
            return int(step) * GRID_STEPS
    return 10 * magnitude * GRID_STEPS  # pragma: no cover


def _num(x: float) -> str:
    """A coordinate in the SVG."""
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _label(x: float) -> str:
    """A number a person reads on an axis, as the page's language writes it."""
    return format_decimal(x, "#,##0.#")


def daily_chart(series: list[tuple[date, int]], threshold: int, title: str) -> Markup:
    """Bars of confirmations per day (left axis) and the running total (right axis)."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    days = max(len(series), 1)
    day_max = _nice_max(max((c for _, c in series), default=0))
    total = sum(c for _, c in series)
    total_max = _nice_max(max(total, threshold))
    bar_w = plot_w / days

    def y_day(v: float) -> float:
        return TOP + plot_h - v / day_max * plot_h

    def y_total(v: float) -> float:
        return TOP + plot_h - v / total_max * plot_h

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        'aria-labelledby="chart-title chart-desc" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="chart-title">{escape(title)}</title>',
        '<desc id="chart-desc">{}</desc>'.format(
            escape(
                _(
                    "%(total)s bekräftade underskrifter på %(days)s dagar; målet är %(goal)s.",
                    total=format_number(total),
                    days=format_number(len(series)),
                    goal=format_number(threshold),
                )
            )
        ),
    ]
    for i in range(GRID_STEPS + 1):  # grid and both axes' labels
        frac = i / GRID_STEPS
        y = TOP + plot_h - frac * plot_h
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{_num(y)}" y2="{_num(y)}"/>'
        )
        parts.append(
            f'<text class="axis" x="{LEFT - 6}" y="{_num(y + 4)}" text-anchor="end">'
            f"{_label(day_max * frac)}</text>"
        )
        parts.append(
            f'<text class="axis axis-total" x="{LEFT + plot_w + 6}" y="{_num(y + 4)}">'
            f"{_label(total_max * frac)}</text>"
        )
    for i, (day, count) in enumerate(series):
        if count:
            x, y = LEFT + i * bar_w, y_day(count)
            parts.append(
                f'<rect class="bar" x="{_num(x + bar_w * 0.1)}" y="{_num(y)}" '
                f'width="{_num(max(bar_w * 0.8, 1))}" height="{_num(TOP + plot_h - y)}">'
                f"<title>{day.isoformat()}: {format_number(count)}</title></rect>"
            )
    label_every = max(1, math.ceil(days / 8))
    for i, (day, _count) in enumerate(series):
        if i % label_every == 0 or i == days - 1:
            x = LEFT + (i + 0.5) * bar_w
            parts.append(
                f'<text class="axis" x="{_num(x)}" y="{HEIGHT - BOTTOM + 16}" '
                f'text-anchor="middle">{day.day}/{day.month}</text>'
            )
    running, points = 0, []
    for i, (_day, count) in enumerate(series):
        running += count
        points.append(f"{_num(LEFT + (i + 1) * bar_w)},{_num(y_total(running))}")
    if points:
        start = f"{LEFT},{_num(y_total(0))}"
        parts.append(f'<polyline class="total" points="{start} {" ".join(points)}"/>')
    y_goal = y_total(threshold)
    parts.append(
        f'<line class="goal" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{_num(y_goal)}" '
        f'y2="{_num(y_goal)}"/>'
    )
    parts.append(
        f'<text class="goal-label" x="{LEFT + 4}" y="{_num(y_goal - 4)}">'
        f"{escape(_('mål %(goal)s', goal=format_number(threshold)))}</text>"
    )
    parts.append(
        f'<line class="axis-line" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{TOP + plot_h}" '
        f'y2="{TOP + plot_h}"/>'
    )
    parts.append("</svg>")
    # Markup is safe: every value above is a number or was escaped.
    return Markup("".join(parts))  # noqa: S704

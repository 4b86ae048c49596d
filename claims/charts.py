"""Charts drawn on the server as SVG: geometry here, markup in templates/reports/_chart.html.

No chart library and no script: the numbers are already in the page's tables, and the
Content-Security-Policy allows no inline code. Colours come from CSS classes (series-0 ...).
"""

import math
from dataclasses import dataclass, field

from django.utils import formats

WIDTH = 720
COLUMN_HEIGHT = 240
ROW_HEIGHT = 26
MARGIN_LEFT = 48
MARGIN_RIGHT = 12
MARGIN_TOP = 12
MARGIN_BOTTOM = 28
LABEL_WIDTH = 170  # the names left of horizontal bars
TICKS = 5
# The value axis reaches at least this far, so its ticks are whole numbers.
SMALLEST_TOP = 5
MAX_X_LABELS = 8


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: int
    tip: str


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str
    anchor: str = "middle"


@dataclass(frozen=True)
class Line:
    x1: float
    y1: float
    x2: float
    y2: float


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    description: str
    width: float
    height: float
    bars: list[Bar]
    labels: list[Label] = field(default_factory=list)
    grid: list[Line] = field(default_factory=list)
    legend: list[tuple[int, str]] = field(default_factory=list)

    @property
    def view_box(self):
        return f"0 0 {self.width:g} {self.height:g}"


def nice_ceiling(value):
    """The top of the value axis: 5, or 1, 2 or 5 times a power of ten, at least `value`."""
    if value <= SMALLEST_TOP:
        return SMALLEST_TOP
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def _number(value):
    """A figure as the reader's language writes it: 1,234.5 or 1.234,5."""
    return formats.number_format(value, 0 if value == int(value) else 1, force_grouping=True)


def stacked_columns(key, title, description, categories, series):
    """One column per category (a day, an age), its series stacked bottom to top.

    `series` is [(name, [value per category])]; values may be None (drawn as nothing).
    """
    plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_height = COLUMN_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    totals = [sum(values[i] or 0 for _name, values in series) for i in range(len(categories))]
    top = nice_ceiling(max(totals, default=0))
    slot = plot_width / max(len(categories), 1)
    bars = []
    for index, category in enumerate(categories):
        stacked = 0.0
        for number, (name, values) in enumerate(series):
            value = values[index] or 0
            if value <= 0:
                continue
            height = value / top * plot_height
            y = MARGIN_TOP + plot_height - (stacked + value) / top * plot_height
            bars.append(
                Bar(
                    x=round(MARGIN_LEFT + index * slot + slot * 0.1, 2),
                    y=round(y, 2),
                    width=round(max(slot * 0.8, 0.5), 2),
                    height=round(height, 2),
                    series=number,
                    tip=f"{category} · {name}: {_number(value)}",
                )
            )
            stacked += value
    labels, grid = _value_axis(top, plot_height)
    labels += _category_labels(categories, slot, plot_height)
    legend = [(number, name) for number, (name, _values) in enumerate(series)]
    return Chart(key, title, description, WIDTH, COLUMN_HEIGHT, bars, labels, grid, legend)


def _value_axis(top, plot_height):
    labels, grid = [], []
    for tick in range(TICKS + 1):
        value = top * tick / TICKS
        y = round(MARGIN_TOP + plot_height - tick / TICKS * plot_height, 2)
        grid.append(Line(MARGIN_LEFT, y, WIDTH - MARGIN_RIGHT, y))
        labels.append(Label(MARGIN_LEFT - 6, y + 4, _number(value), "end"))
    return labels, grid


def _category_labels(categories, slot, plot_height):
    count = len(categories)
    step = max(1, math.ceil(count / MAX_X_LABELS))
    y = MARGIN_TOP + plot_height + 18
    return [
        Label(round(MARGIN_LEFT + index * slot + slot / 2, 2), y, str(categories[index]))
        for index in range(0, count, step)
    ]


def horizontal_bars(key, title, description, categories, series):
    """One row per category (a person, an outcome), its series side by side along the row."""
    height = MARGIN_TOP + ROW_HEIGHT * max(len(categories), 1) + MARGIN_BOTTOM
    plot_width = WIDTH - LABEL_WIDTH - MARGIN_RIGHT - 40
    totals = [sum(values[i] or 0 for _name, values in series) for i in range(len(categories))]
    top = nice_ceiling(max(totals, default=0))
    bars, labels = [], []
    for index, category in enumerate(categories):
        y = MARGIN_TOP + index * ROW_HEIGHT
        labels.append(Label(LABEL_WIDTH - 8, y + ROW_HEIGHT * 0.65, str(category), "end"))
        stacked = 0.0
        for number, (name, values) in enumerate(series):
            value = values[index] or 0
            if value <= 0:
                continue
            bars.append(
                Bar(
                    x=round(LABEL_WIDTH + stacked / top * plot_width, 2),
                    y=round(y + ROW_HEIGHT * 0.15, 2),
                    width=round(value / top * plot_width, 2),
                    height=round(ROW_HEIGHT * 0.7, 2),
                    series=number,
                    tip=f"{category} · {name}: {_number(value)}",
                )
            )
            stacked += value
        end = round(LABEL_WIDTH + stacked / top * plot_width + 6, 2)
        labels.append(Label(end, y + ROW_HEIGHT * 0.65, _number(totals[index]), "start"))
    legend = [(number, name) for number, (name, _values) in enumerate(series)]
    return Chart(key, title, description, WIDTH, height, bars, labels, [], legend)

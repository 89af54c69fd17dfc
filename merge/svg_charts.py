"""Small charts as inline SVG for the HTML report: pure functions from data to an ``<svg ...>`` string.

No I/O and no state: the same input gives the same bytes. Every chart is one ``<svg>`` element (no XML
prolog, no ids, so several can sit in one page) with ``role="img"``, a ``<title>``, a ``viewBox`` and a
pixel ``width``/``height``; text stays text (``font-family="sans-serif"``) and all of it is XML-escaped,
since labels come from data. Coordinates are written with one decimal.

Primitives:

- ``nice_ticks``: numeric ticks of step 1, 2 or 5 x 10^k that cover a range; ``tick_labels`` formats them.
- ``time_ticks`` / ``time_labels``: ticks of a UTC time range at 1 min ... 1 day ... steps, labelled
  ``12-13 14:00`` on the first tick and a new day, ``14:00`` otherwise.
- ``time_chart``: one or more stacked panels of ``Series`` over a shared time x-axis, drawn as lines
  (optionally with point markers) or as "post" steps (each value holds until the next point, the last
  one until the end of the x range). A NaN value breaks a line instead of drawing to 0.
- ``stacked_bar_chart``: horizontal bars per category, stacked segments with a legend.
- ``box_chart``: a box per group (quartiles, median, whiskers at given percentiles, no fliers).
- ``legend``: colour swatches with labels; ``no_data_chart`` for empty input.

Layout uses an estimated glyph width (``CHAR_WIDTH``), not font metrics, so long labels are given room
generously rather than measured.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import pandas as pd

# "Tableau 10" ("tab10"): a qualitative palette for series.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
           "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")  # fmt: skip
FONT_SIZE = 10
SMALL_FONT_SIZE = 9
TITLE_FONT_SIZE = 11
CHAR_WIDTH = 0.6  # estimated average glyph width of sans-serif text, in font sizes
TEXT_COLOUR = "#222"
AXIS_COLOUR = "#555"
GRID_COLOUR = "#e3e3e3"
DEFAULT_WIDTH = 800
MIN_TIME_SPAN = 20 * 60.0  # seconds: a shorter time range (e.g. a single point) is widened to this
_MINUTE, _HOUR, _DAY = 60, 3600, 86400
TIME_STEPS = (_MINUTE, 2 * _MINUTE, 5 * _MINUTE, 10 * _MINUTE, 15 * _MINUTE, 30 * _MINUTE, _HOUR, 2 * _HOUR,
              3 * _HOUR, 6 * _HOUR, 12 * _HOUR, _DAY, 2 * _DAY, 4 * _DAY, 7 * _DAY, 14 * _DAY, 28 * _DAY)  # fmt: skip
_EPOCH = pd.Timestamp(0, tz="UTC")


# ---------------------------------------------------------------------------------------------------------
# Markup


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _escape(text: str, *, quote: bool = False) -> str:
    """Text for XML content (or an attribute value with ``quote``): escaped, characters XML forbids dropped."""
    return html.escape(_NOT_XML.sub("", text), quote=quote)


def _num(value: float) -> str:
    """A coordinate with one decimal, without a trailing ``.0`` or a negative zero."""
    text = f"{value:.1f}"
    if text.endswith(".0"):
        text = text[:-2]
    return "0" if text == "-0" else text


def _attrs(attrs: dict[str, Any]) -> str:
    """`` key="value"`` pairs; ``font_size`` -> ``font-size``, ``class_`` -> ``class``; None is left out."""
    parts = []
    for key, value in attrs.items():
        if value is None:
            continue
        text = _num(value) if isinstance(value, float) else str(value)
        parts.append(f' {key.rstrip("_").replace("_", "-")}="{_escape(text, quote=True)}"')
    return "".join(parts)


def _tag(name: str, text: str | None = None, **attrs: Any) -> str:
    """One element; ``text`` (escaped) as its content, or self-closing without it."""
    if text is None:
        return f"<{name}{_attrs(attrs)}/>"
    return f"<{name}{_attrs(attrs)}>{_escape(text)}</{name}>"


def _text(x: float, y: float, text: str, *, anchor: str = "start", size: int = FONT_SIZE, **attrs: Any) -> str:
    """A ``<text>`` at (x, y) (the baseline of its first line); lines after ``\\n`` become ``<tspan>``s."""
    lines = str(text).split("\n")
    head = _attrs({"x": float(x), "y": float(y), "text_anchor": None if anchor == "start" else anchor,
                   "font_size": None if size == FONT_SIZE else size, **attrs})  # fmt: skip
    if len(lines) == 1:
        return f"<text{head}>{_escape(lines[0])}</text>"
    spans = "".join(f'<tspan x="{_num(x)}" dy="{_num(0.0 if i == 0 else size * 1.2)}">{_escape(line)}'
                    "</tspan>" for i, line in enumerate(lines))  # fmt: skip
    return f"<text{head}>{spans}</text>"


def text_width(text: str, size: float = FONT_SIZE) -> float:
    """The estimated width in px of the longest line of ``text`` at ``size`` px."""
    return max((len(line) for line in str(text).split("\n")), default=0) * size * CHAR_WIDTH


def _document(width: float, height: float, title: str, body: Sequence[str]) -> str:
    """The ``<svg>`` element around ``body``."""
    head = _attrs({"xmlns": "http://www.w3.org/2000/svg", "width": math.ceil(width), "height": math.ceil(height),
                   "viewBox": f"0 0 {math.ceil(width)} {math.ceil(height)}", "role": "img",
                   "font_family": "sans-serif", "font_size": FONT_SIZE, "fill": TEXT_COLOUR})  # fmt: skip
    return f"<svg{head}>{_tag('title', title)}{''.join(body)}</svg>"


def _title(width: float, title: str) -> str:
    return _text(width / 2, 16, title, anchor="middle", size=TITLE_FONT_SIZE)


def no_data_chart(title: str, *, width: float = DEFAULT_WIDTH, height: float = 120, message: str = "no data") -> str:
    """A chart of nothing: the title and ``message`` in the middle."""
    return _document(width, height, title, [_title(width, title),
                                            _text(width / 2, height / 2 + 8, message, anchor="middle",
                                                  fill=AXIS_COLOUR)])  # fmt: skip


def legend(entries: Sequence[tuple[str, str]], x: float, y: float, *, max_width: float | None = None,
           column: bool = False, size: int = SMALL_FONT_SIZE) -> tuple[str, float]:  # fmt: skip
    """(markup, height in px) of a legend of (label, colour) swatches from (x, y) (its top left).

    In rows that wrap at ``max_width`` (no limit without it), or one entry per line with ``column``.
    """
    if not entries:
        return "", 0.0
    line_height = size + 5
    parts: list[str] = []
    cx, cy = x, y
    for label, colour in entries:
        item_width = 10 + 4 + text_width(label, size) + 12
        if not column and max_width is not None and cx > x and cx + item_width > x + max_width:
            cx, cy = x, cy + line_height
        parts.append(_tag("rect", x=float(cx), y=float(cy + 1), width=10, height=float(size - 1), fill=colour))
        parts.append(_text(cx + 14, cy + size, label, size=size))
        if column:
            cy += line_height
        else:
            cx += item_width
    height = (cy - y) if column else (cy - y + line_height)
    return f'<g class="legend">{"".join(parts)}</g>', float(height)


# ---------------------------------------------------------------------------------------------------------
# Scales and ticks


@dataclass(frozen=True)
class Scale:
    """A linear map from data values [lo, hi] to pixels [start, stop] (stop < start for an upward y axis)."""

    lo: float
    hi: float
    start: float
    stop: float

    def __call__(self, value: float) -> float:
        """The pixel of one value (the middle of the pixel range when the data range is empty)."""
        if self.hi == self.lo:
            return (self.start + self.stop) / 2
        return self.start + (value - self.lo) / (self.hi - self.lo) * (self.stop - self.start)

    def many(self, values: np.ndarray) -> np.ndarray:
        """The pixels of an array of values (NaN stays NaN)."""
        if self.hi == self.lo:
            return np.where(np.isnan(values), np.nan, (self.start + self.stop) / 2)
        return self.start + (values - self.lo) / (self.hi - self.lo) * (self.stop - self.start)


def _nice_steps(raw: float) -> Iterator[float]:
    """1, 2, 5 x 10^k steps from the one just below ``raw`` upwards."""
    exponent = math.floor(math.log10(raw)) if raw > 0 else 0
    while True:
        for mantissa in (1, 2, 5):
            yield mantissa * 10.0**exponent
        exponent += 1


def _decimals(step: float) -> int:
    """Decimals that show a multiple of a 1/2/5 x 10^k step exactly."""
    return max(0, -math.floor(math.log10(step) + 1e-9))


def nice_ticks(lo: float, hi: float, max_ticks: int = 8) -> list[float]:
    """Evenly spaced ticks at multiples of a 1, 2 or 5 x 10^k step that cover [lo, hi] (the first at or
    below ``lo``, the last at or above ``hi``): the smallest such step with at most ``max_ticks`` ticks
    (at least 3 are allowed, since a range across 0 needs 3). A range narrower than float precision (or
    1e-12) is a point, widened by 5 % (by 0.5 around 0); a non-finite bound gives ``[0, 1]``'s ticks."""
    max_ticks = max(3, max_ticks)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = 0.0, 1.0
    lo, hi = min(lo, hi), max(lo, hi)
    if hi - lo <= max(1e-9 * max(abs(lo), abs(hi)), 1e-12):  # a point (within float precision)
        pad = abs(lo) * 0.05 if abs(lo) > 1e-10 else 0.5
        lo, hi = lo - pad, hi + pad
    for step in _nice_steps((hi - lo) / (max_ticks - 1)):
        first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
        if last - first + 1 <= max_ticks:
            decimals = _decimals(step)
            return [round(k * step, decimals) + 0.0 for k in range(first, last + 1)]
    raise AssertionError("unreachable: the steps grow without bound")  # pragma: no cover


def tick_labels(ticks: Sequence[float]) -> list[str]:
    """Labels of evenly spaced ticks, with as many decimals as their step needs."""
    if len(ticks) < 2:
        return [f"{t:g}" for t in ticks]
    decimals = _decimals(abs(ticks[1] - ticks[0]) or 1.0)
    labels = [f"{t:.{decimals}f}" for t in ticks]
    return [label[1:] if label.startswith("-") and set(label[1:]) <= {"0", "."} else label for label in labels]


def _time_steps() -> Iterator[int]:
    yield from TIME_STEPS
    for step in _nice_steps(50.0):
        if step >= 50:
            yield int(step) * _DAY


def time_ticks(start: float, end: float, max_ticks: int = 8) -> list[float]:
    """Ticks (seconds since the epoch, UTC) inside [start, end] at the multiples of the smallest step of
    ``TIME_STEPS`` (then 50, 100, 200, 500... days) that gives at most ``max_ticks`` ticks. Day steps fall
    on UTC midnights. A range of at least two minutes and ``max_ticks >= 6`` gets at least 2 ticks."""
    max_ticks = max(2, max_ticks)
    start, end = min(start, end), max(start, end)
    for step in _time_steps():
        first, last = math.ceil(start / step), math.floor(end / step)
        first += first * step < start  # the quotient may have rounded onto a multiple just outside the range
        last -= last * step > end
        if last - first + 1 <= max_ticks:
            return [float(k * step) for k in range(first, last + 1)]
    raise AssertionError("unreachable: the steps grow without bound")  # pragma: no cover


def time_labels(ticks: Sequence[float]) -> list[str]:
    """``12-13 14:00`` for the first tick and the first of each new day, ``14:00`` for the others;
    ``12-13`` when the ticks are a day or more apart."""
    stamps = [datetime.fromtimestamp(t, UTC) for t in ticks]
    if len(ticks) >= 2 and ticks[1] - ticks[0] >= _DAY:
        return [s.strftime("%m-%d") for s in stamps]
    labels = []
    for i, stamp in enumerate(stamps):
        new_day = i == 0 or stamp.date() != stamps[i - 1].date()
        labels.append(stamp.strftime("%m-%d %H:%M" if new_day else "%H:%M"))
    return labels


def _as_series(values: Any) -> pd.Series:
    """A pandas Series of ``values`` (arrays keep their dtype; other iterables become object values)."""
    if isinstance(values, pd.Series | pd.Index | np.ndarray):
        return pd.Series(np.asarray(values) if isinstance(values, np.ndarray) else values.array)
    return pd.Series(list(values), dtype=object)


def to_epoch_seconds(values: Any) -> np.ndarray:
    """UTC datetimes (``datetime``, pandas ``Timestamp``, ``datetime64``; naive ones are taken as UTC) as
    float seconds since the epoch; missing ones (None, NaT) as NaN."""
    stamps = pd.to_datetime(_as_series(values), utc=True, errors="coerce")
    seconds = (stamps - _EPOCH) / pd.Timedelta(seconds=1)
    return seconds.to_numpy(dtype=float, na_value=np.nan)


def _floats(values: Any) -> np.ndarray:
    """Numbers as a float array; missing or non-numeric values as NaN."""
    return pd.to_numeric(_as_series(values), errors="coerce").to_numpy(dtype=float, na_value=np.nan)


# ---------------------------------------------------------------------------------------------------------
# Paths


def step_path(xs: np.ndarray, ys: np.ndarray, x_end: float) -> str:
    """Path data of a "post" step line through pixel points: each value holds until the next point's x,
    the last one until ``x_end``. n points give ``M`` + n-1 x (``H``, ``V``) + a final ``H``: 2n-1 segments.
    A NaN y holds the previous value up to its x and breaks the line there."""
    parts: list[str] = []
    drawing = False
    for x, y in zip(xs.tolist(), ys.tolist(), strict=True):
        if math.isnan(y):
            if drawing:
                parts.append(f"H{_num(x)}")
            drawing = False
        elif drawing:
            parts.append(f"H{_num(x)}V{_num(y)}")
        else:
            parts.append(f"M{_num(x)} {_num(y)}")
            drawing = True
    if drawing:
        parts.append(f"H{_num(x_end)}")
    return "".join(parts)


def line_path(xs: np.ndarray, ys: np.ndarray) -> str:
    """Path data of a polyline through pixel points; a NaN y breaks it (no segment to or from that point)."""
    parts: list[str] = []
    drawing = False
    for x, y in zip(xs.tolist(), ys.tolist(), strict=True):
        if math.isnan(y):
            drawing = False
        else:
            parts.append(f"{'L' if drawing else 'M'}{_num(x)} {_num(y)}")
            drawing = True
    return "".join(parts)


def marker_path(xs: np.ndarray, ys: np.ndarray) -> str:
    """Path data of a dot per finite point (zero-length segments, drawn with a round cap)."""
    return "".join(f"M{_num(x)} {_num(y)}h0" for x, y in zip(xs.tolist(), ys.tolist(), strict=True)
                   if not math.isnan(y))  # fmt: skip


def _grid_and_axes(left: float, top: float, right: float, bottom: float, *, xs: Sequence[float] = (),
                   ys: Sequence[float] = ()) -> list[str]:  # fmt: skip
    """Gridlines at the given pixel positions, then the left and bottom axis lines."""
    parts = []
    grid = "".join(f"M{_num(x)} {_num(top)}V{_num(bottom)}" for x in xs) + "".join(
        f"M{_num(left)} {_num(y)}H{_num(right)}" for y in ys)
    if grid:
        parts.append(_tag("path", d=grid, stroke=GRID_COLOUR, fill="none", class_="grid"))
    parts.append(_tag("path", d=f"M{_num(left)} {_num(top)}V{_num(bottom)}H{_num(right)}", stroke=AXIS_COLOUR,
                      fill="none", class_="axis"))  # fmt: skip
    return parts


def _y_axis(scale: Scale, ticks: Sequence[tuple[float, str]], *, left: float, top: float, bottom: float,
            label: str) -> list[str]:  # fmt: skip
    """Tick marks and labels left of ``left`` and the rotated axis label (gridlines: ``_grid_and_axes``)."""
    pixels = [scale(value) for value, _ in ticks]
    parts = []
    if pixels:
        parts.append(_tag("path", d="".join(f"M{_num(left - 4)} {_num(y)}H{_num(left)}" for y in pixels),
                          stroke=AXIS_COLOUR, fill="none", class_="ticks-y"))  # fmt: skip
    parts += [_text(left - 6, y + FONT_SIZE * 0.35, text, anchor="end", class_="tick-y")
              for y, (_, text) in zip(pixels, ticks, strict=True)]  # fmt: skip
    if label:
        centre = (top + bottom) / 2
        parts.append(_text(12, centre, label, anchor="middle", transform=f"rotate(-90 12 {_num(centre)})"))
    return parts


def _x_ticks(pixels: Sequence[float], labels: Sequence[str], bottom: float) -> list[str]:
    """Tick marks below ``bottom`` and their (possibly multi-line) labels."""
    parts = []
    if pixels:
        parts.append(_tag("path", d="".join(f"M{_num(x)} {_num(bottom)}v4" for x in pixels), stroke=AXIS_COLOUR,
                          fill="none", class_="ticks-x"))  # fmt: skip
    parts += [_text(x, bottom + 6 + FONT_SIZE, label, anchor="middle", class_="tick-x")
              for x, label in zip(pixels, labels, strict=True)]  # fmt: skip
    return parts


# ---------------------------------------------------------------------------------------------------------
# Charts


@dataclass(frozen=True)
class Series:
    """One line of a time chart: ``x`` UTC datetimes, ``y`` numbers (NaN: no value, the line breaks);
    without a ``colour``, the ``PALETTE`` colour of its place in the panel."""

    label: str
    x: Sequence[Any]
    y: Sequence[Any]
    colour: str | None = None


@dataclass(frozen=True)
class Panel:
    """One plot area of a ``time_chart``.

    ``style``: ``"line"`` or ``"step"`` ("post": a value holds until the next point, the last one until
    the end of the x range). ``y_ticks``: fixed (value, label) ticks instead of nice numeric ones;
    ``y_range``: fixed limits instead of the nice ticks' cover of the data; ``y_from_zero``: the range
    includes 0. ``weight``: the panel's share of the plot height.
    """

    series: Sequence[Series]
    y_label: str = ""
    style: Literal["line", "step"] = "line"
    markers: bool = False
    y_ticks: Sequence[tuple[float, str]] | None = None
    y_range: tuple[float, float] | None = None
    y_from_zero: bool = False
    weight: float = 1.0


def _panel_y(panel: Panel, values: list[np.ndarray], max_ticks: int) -> tuple[tuple[float, float],
                                                                               list[tuple[float, str]]]:  # fmt: skip
    """(y limits, labelled ticks) of a panel."""
    finite = np.concatenate([v[np.isfinite(v)] for v in values]) if values else np.array([])
    lo, hi = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    if panel.y_from_zero:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
        if hi == lo == 0.0:
            hi = 1.0
    if panel.y_ticks is not None:
        ticks = [(float(v), str(label)) for v, label in panel.y_ticks]
        limits = panel.y_range or (min([lo] + [v for v, _ in ticks]), max([hi] + [v for v, _ in ticks]))
        return limits, ticks
    if panel.y_range is not None:
        limits = panel.y_range
        numbers = [t for t in nice_ticks(*limits, max_ticks) if limits[0] - 1e-9 <= t <= limits[1] + 1e-9]
    else:
        numbers = nice_ticks(lo, hi, max_ticks)
        limits = (numbers[0], numbers[-1])
    return limits, list(zip(numbers, tick_labels(numbers), strict=True))


def time_chart(panels: Sequence[Panel], *, title: str, x_range: tuple[Any, Any] | None = None, x_label: str = "",
               width: float = DEFAULT_WIDTH, height: float = 320,
               legend_entries: Sequence[tuple[str, str]] | None = None) -> str:  # fmt: skip
    """Panels stacked over one shared UTC time x-axis (tick labels below the last panel).

    ``x_range``: (start, end) datetimes; without it the data's range. A range under ``MIN_TIME_SPAN`` is
    widened around its middle. Points outside the range are drawn at its edge. ``legend_entries``:
    (label, colour) pairs above the plots; by default every distinct series label with its colour. No
    finite point at all gives ``no_data_chart``.
    """
    xs = [[to_epoch_seconds(s.x) for s in p.series] for p in panels]
    ys = [[_floats(s.y) for s in p.series] for p in panels]
    points = [(x, y) for px, py in zip(xs, ys, strict=True) for x, y in zip(px, py, strict=True)]
    if any(len(x) != len(y) for x, y in points):
        raise ValueError("time_chart: a series has not as many x as y values")
    if not any(np.any(np.isfinite(x) & np.isfinite(y)) for x, y in points):
        return no_data_chart(title, width=width)
    finite_x = np.concatenate([x[np.isfinite(x)] for x, _ in points])
    start, end = float(finite_x.min()), float(finite_x.max())
    if x_range is not None:
        given = to_epoch_seconds(x_range)
        start = float(given[0]) if np.isfinite(given[0]) else start
        end = float(given[1]) if np.isfinite(given[1]) else end
        start, end = min(start, end), max(start, end)
    hold_until = end  # where step lines end (before any widening)
    if end - start < MIN_TIME_SPAN:
        middle = (start + end) / 2
        start, end = middle - MIN_TIME_SPAN / 2, middle + MIN_TIME_SPAN / 2

    colours = [[s.colour or PALETTE[i % len(PALETTE)] for i, s in enumerate(p.series)] for p in panels]
    if legend_entries is None:
        seen: dict[str, str] = {}
        for panel, panel_colours in zip(panels, colours, strict=True):
            for series, colour in zip(panel.series, panel_colours, strict=True):
                seen.setdefault(series.label, colour)
        legend_entries = list(seen.items())
    left, right = 64.0, width - 16.0
    legend_markup, legend_height = legend(legend_entries, left, 26, max_width=right - left)
    top = 26 + legend_height + (6 if legend_height else 4)
    bottom = height - (2 * FONT_SIZE + 14 if x_label else FONT_SIZE + 12)
    gap = 12.0
    x_scale = Scale(start, end, left, right)
    x_ticks = time_ticks(start, end, max(6, int((right - left) // 85)))
    x_pixels = [x_scale(t) for t in x_ticks]

    body = [_title(width, title), legend_markup]
    total_weight = sum(max(p.weight, 0.0) for p in panels) or 1.0
    available = bottom - top - gap * (len(panels) - 1)
    panel_top = top
    for index, panel in enumerate(panels):
        panel_bottom = panel_top + available * max(panel.weight, 0.0) / total_weight
        limits, ticks = _panel_y(panel, ys[index], max(3, int((panel_bottom - panel_top) // 28)))
        y_scale = Scale(limits[0], limits[1], panel_bottom, panel_top)
        body += _grid_and_axes(left, panel_top, right, panel_bottom, xs=x_pixels, ys=[y_scale(v) for v, _ in ticks])
        body += _y_axis(y_scale, ticks, left=left, top=panel_top, bottom=panel_bottom, label=panel.y_label)
        for colour, x, y in zip(colours[index], xs[index], ys[index], strict=True):
            keep = ~np.isnan(x)
            order = np.argsort(x[keep], kind="stable")
            px = np.clip(x_scale.many(x[keep][order]), left, right)
            py = y_scale.many(y[keep][order])
            data = step_path(px, py, x_scale(hold_until)) if panel.style == "step" else line_path(px, py)
            if data:
                body.append(_tag("path", d=data, stroke=colour, fill="none", stroke_width="1.5",
                                 stroke_linejoin="round", stroke_linecap="round",
                                 class_=f"series {panel.style}"))  # fmt: skip
            dots = marker_path(px, py) if panel.markers else ""
            if dots:
                body.append(_tag("path", d=dots, stroke=colour, fill="none", stroke_width="5", stroke_linecap="round",
                                 class_="markers"))  # fmt: skip
        panel_top = panel_bottom + gap
    body += _x_ticks(x_pixels, time_labels(x_ticks), bottom)
    if x_label:
        body.append(_text((left + right) / 2, height - 6, x_label, anchor="middle"))
    return _document(width, height, title, body)


def stacked_bar_chart(categories: Sequence[str], segments: Sequence[tuple[str, str, Sequence[float]]], *,
                      title: str, x_label: str = "", width: float = DEFAULT_WIDTH,
                      row_height: float = 16) -> str:  # fmt: skip
    """Horizontal bars, one per category from top to bottom, each the stack of ``segments`` (label,
    colour, one value per category; NaN counts as 0) from left to right, with a legend at the right.
    The height follows from the number of categories. No category gives ``no_data_chart``."""
    if not len(categories):
        return no_data_chart(title, width=width)
    values = [np.nan_to_num(_floats(v), nan=0.0) for _, _, v in segments]
    if any(len(v) != len(categories) for v in values):
        raise ValueError("stacked_bar_chart: a segment has not one value per category")
    totals = np.sum(values, axis=0) if values else np.zeros(len(categories))
    labels = [str(c) for c in categories]
    left = min(width / 3, 12 + max(text_width(c) for c in labels))
    legend_width = 14 + max((text_width(label, SMALL_FONT_SIZE) for label, _, _ in segments), default=0) + 8
    right = width - 16 - legend_width
    top = 28.0
    bottom = top + row_height * len(labels)
    legend_markup, legend_height = legend([(label, colour) for label, colour, _ in segments], right + 16, top,
                                          column=True)  # fmt: skip
    height = max(bottom + (2 * FONT_SIZE + 16 if x_label else FONT_SIZE + 14), top + legend_height + 8)
    ticks = nice_ticks(0.0, max(float(totals.max()), 1.0), max(3, int((right - left) // 70)))
    x_scale = Scale(ticks[0], ticks[-1], left, right)
    body = [_title(width, title)]
    body += _grid_and_axes(left, top, right, bottom, xs=[x_scale(t) for t in ticks])
    offsets = np.zeros(len(labels))
    bar = row_height * 0.75
    for (_, colour, _), value in zip(segments, values, strict=True):
        data = "".join(
            f"M{_num(x_scale(o))} {_num(top + i * row_height + (row_height - bar) / 2)}"
            f"h{_num(x_scale(o + v) - x_scale(o))}v{_num(bar)}h{_num(x_scale(o) - x_scale(o + v))}z"
            for i, (o, v) in enumerate(zip(offsets.tolist(), value.tolist(), strict=True)) if v > 0)
        if data:
            body.append(_tag("path", d=data, fill=colour, class_="bars"))
        offsets = offsets + value
    body += [_text(left - 6, top + (i + 0.5) * row_height + FONT_SIZE * 0.35, label, anchor="end", class_="tick-y")
             for i, label in enumerate(labels)]  # fmt: skip
    body += _x_ticks([x_scale(t) for t in ticks], tick_labels(ticks), bottom)
    if x_label:
        body.append(_text((left + right) / 2, height - 6, x_label, anchor="middle"))
    body.append(legend_markup)
    return _document(width, height, title, body)


@dataclass(frozen=True)
class BoxStats:
    """The five numbers a box shows: whisker ends, quartiles and median."""

    low: float
    q1: float
    median: float
    q3: float
    high: float


def box_stats(values: Any, whiskers: tuple[float, float] = (5.0, 95.0)) -> BoxStats | None:
    """Quartiles, median and the ``whiskers`` percentiles (linear interpolation, like ``numpy.percentile``)
    of the finite values; None without any."""
    numbers = _floats(values)
    numbers = numbers[np.isfinite(numbers)]
    if not len(numbers):
        return None
    low, q1, median, q3, high = np.percentile(numbers, [whiskers[0], 25, 50, 75, whiskers[1]]).tolist()
    return BoxStats(low=low, q1=q1, median=median, q3=q3, high=high)


def box_chart(groups: Sequence[tuple[str, Any]], *, title: str, y_label: str = "",
              whiskers: tuple[float, float] = (5.0, 95.0), width: float = DEFAULT_WIDTH,
              height: float = 340) -> str:  # fmt: skip
    """A box per (label, values) group from left to right: the box spans the quartiles, a line marks the
    median, the whiskers reach the ``whiskers`` percentiles; no outliers drawn. Labels may hold ``\\n``. A
    group without a finite value keeps its place and label, empty; no value at all gives ``no_data_chart``."""
    stats = [box_stats(values, whiskers) for _, values in groups]
    drawn = [s for s in stats if s is not None]
    if not drawn:
        return no_data_chart(title, width=width)
    label_lines = max(str(label).count("\n") + 1 for label, _ in groups)
    left, right, top = 64.0, width - 16.0, 28.0
    bottom = height - (FONT_SIZE * 1.2 * label_lines + 12)
    ticks = nice_ticks(min(s.low for s in drawn), max(s.high for s in drawn), max(3, int((bottom - top) // 32)))
    y_scale = Scale(ticks[0], ticks[-1], bottom, top)
    slot = (right - left) / len(groups)
    centres = [left + (i + 0.5) * slot for i in range(len(groups))]
    body = [_title(width, title)]
    body += _grid_and_axes(left, top, right, bottom, ys=[y_scale(t) for t in ticks])
    body += _y_axis(y_scale, list(zip(ticks, tick_labels(ticks), strict=True)), left=left, top=top, bottom=bottom,
                    label=y_label)
    half = min(slot * 0.25, 40.0)
    for centre, stat in zip(centres, stats, strict=True):
        if stat is None:
            continue
        x0, x1 = _num(centre - half), _num(centre + half)
        c0, c1, xc = _num(centre - half / 2), _num(centre + half / 2), _num(centre)
        q1, q3, med = _num(y_scale(stat.q1)), _num(y_scale(stat.q3)), _num(y_scale(stat.median))
        low, high = _num(y_scale(stat.low)), _num(y_scale(stat.high))
        body.append(_tag("path", d=f"M{xc} {q1}V{low}M{xc} {q3}V{high}M{c0} {low}H{c1}M{c0} {high}H{c1}",
                         stroke="#333", fill="none", class_="whisker"))  # fmt: skip
        body.append(_tag("path", d=f"M{x0} {q3}H{x1}V{q1}H{x0}Z", stroke="#333", fill="#dbe8f5", class_="box"))
        body.append(_tag("path", d=f"M{x0} {med}H{x1}", stroke=PALETTE[1], stroke_width="2", fill="none",
                         class_="median"))  # fmt: skip
    body += _x_ticks(centres, [str(label) for label, _ in groups], bottom)
    return _document(width, height, title, body)

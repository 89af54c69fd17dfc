"""merge/svg_charts.py directly: well-formed and deterministic SVG, escaped text, NaN and empty input,
nice numeric and time ticks (hypothesis), step-line geometry and box-plot whiskers read back from the
drawn pixels; and the report's four charts built on it."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from merge import report
from merge.svg_charts import (
    PALETTE,
    TIME_STEPS,
    Panel,
    Series,
    box_chart,
    box_stats,
    line_path,
    nice_ticks,
    no_data_chart,
    stacked_bar_chart,
    step_path,
    tick_labels,
    time_chart,
    time_labels,
    time_ticks,
    to_epoch_seconds,
)

SVG = "{http://www.w3.org/2000/svg}"
T0 = datetime(2025, 12, 13, 13, 20, tzinfo=UTC)
NASTY = 'a<b & "c"</svg>'
NUMBER = r"-?\d+(?:\.\d+)?"


def parse(svg: str) -> ET.Element:
    """The chart as XML, after the checks every chart must pass."""
    assert svg.startswith("<svg") and "<?xml" not in svg
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    width, height = int(root.get("width")), int(root.get("height"))
    assert root.get("viewBox") == f"0 0 {width} {height}" and width > 0 and height > 0
    assert root[0].tag == f"{SVG}title" and root[0].text
    assert root.get("font-family") == "sans-serif"
    return root


def paths(root: ET.Element, cls: str) -> list[str]:
    return [p.get("d", "") for p in root.iter(f"{SVG}path") if cls in (p.get("class") or "").split()]


def texts(root: ET.Element, cls: str | None = None) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text") if cls is None or t.get("class") == cls]


def commands(d: str) -> list[tuple[str, list[float]]]:
    return [(c, [float(n) for n in re.findall(NUMBER, args)]) for c, args in re.findall(r"([A-Za-z])([^A-Za-z]*)", d)]


def y_mapping(root: ET.Element):
    """value -> pixel of the y axis, from the tick labels and the tick marks drawn beside them."""
    values = [float(t) for t in texts(root, "tick-y")]
    pixels = [args[1] for c, args in commands(paths(root, "ticks-y")[0]) if c == "M"]
    assert len(values) == len(pixels) >= 2
    (v0, p0), (v1, p1) = (values[0], pixels[0]), (values[-1], pixels[-1])
    return lambda v: p0 + (v - v0) * (p1 - p0) / (v1 - v0)


def every_chart(label: str = "s") -> list[str]:
    times = [T0 + timedelta(minutes=10 * i) for i in range(6)]
    series = [Series(label, times, [1.0, 2.0, np.nan, 4.0, 3.0, 2.0], PALETTE[0]),
              Series("other", times, [0.5, 0.5, 0.7, 0.7, 0.6, 0.6], PALETTE[1])]  # fmt: skip
    return [
        time_chart([Panel(series, y_label=label, style="step", weight=3),
                    Panel(series, style="step", y_ticks=[(1, "Low"), (2, label)], y_range=(0.5, 3.5), weight=2)],
                   title=label, x_range=(times[0], times[-1] + timedelta(minutes=10)), x_label=label),
        time_chart([Panel(series, y_label=label, markers=True, y_from_zero=True)], title=label),
        stacked_bar_chart([label, "b"], [(label, "#2e7d32", [3, 1]), ("x", "#c62828", [0, 2])], title=label,
                          x_label=label),
        box_chart([(f"{label}\n2 pairs", [1.0, 2.0]), ("y", [3.0, 5.0, 8.0])], title=label, y_label=label),
        no_data_chart(label),
    ]  # fmt: skip


def test_every_chart_is_well_formed_and_deterministic() -> None:
    first, second = every_chart(), every_chart()
    assert first == second
    for svg in first:
        parse(svg)
        assert len(svg) < 20_000


def test_text_from_data_is_escaped() -> None:
    for svg in every_chart(NASTY):
        root = parse(svg)  # would not parse if a label closed an element
        assert root[0].text == NASTY
        assert NASTY not in svg and svg.count("</svg>") == 1
        assert any(NASTY in "".join(t.itertext()) for t in root.iter(f"{SVG}text"))
    assert parse(no_data_chart("zone\x01 1"))[0].text == "zone 1"  # a character XML cannot hold is dropped


def test_empty_input_gives_a_no_data_chart() -> None:
    charts = [
        time_chart([], title="t"),
        time_chart([Panel([Series("a", [], [])])], title="t"),
        time_chart([Panel([Series("a", [T0, T0], [np.nan, None])])], title="t"),  # only missing values
        stacked_bar_chart([], [], title="t"),
        box_chart([], title="t"),
        box_chart([("a", []), ("b", [np.nan])], title="t"),
    ]
    for svg in charts:
        assert "no data" in texts(parse(svg))


def test_the_report_charts_take_empty_frames() -> None:
    merged = pd.DataFrame({c: [] for c in ["InstanceTier", "InstanceType", "Region", "RegionName", "Score",
                                           "Savings", "IF"]})  # fmt: skip
    history = pd.DataFrame({c: [] for c in ["time", "InstanceType", "Region", "RegionCode", "AvailabilityZone",
                                            "SpotPrice", "Score"]})  # fmt: skip
    runs = pd.DataFrame({c: [] for c in ["phase", "seconds", "exit_code", "slot"]})
    for svg in (report.history_chart(history, "D2s_v3", "eastus", "US East", T0), report.score_mix_chart(merged),
                report.savings_chart(merged), report.durations_chart(runs)):  # fmt: skip
        assert "no data" in texts(parse(svg))


def test_a_missing_value_breaks_the_line_instead_of_dropping_to_zero() -> None:
    times = [T0 + timedelta(minutes=10 * i) for i in range(4)]
    svg = time_chart([Panel([Series("a", times, [5.0, np.nan, 7.0, 8.0])], y_from_zero=True)], title="t")
    root = parse(svg)
    d = paths(root, "series")[0]
    assert [c for c, _ in commands(d)] == ["M", "M", "L"]
    zero = y_mapping(root)(0.0)
    assert all(abs(args[1] - zero) > 1 for _, args in commands(d))
    # a step holds the value before the gap up to the gap's time, then breaks
    assert step_path(np.array([0.0, 10, 20, 30]), np.array([5.0, np.nan, 7, 8]), 40) == "M0 5H10M20 7H30V8H40"
    assert line_path(np.array([0.0, 10, 20, 30]), np.array([5.0, np.nan, 7, 8])) == "M0 5M20 7L30 8"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 100, allow_nan=False), min_size=1, max_size=30))
def test_a_post_step_line_of_n_points_has_2n_minus_1_segments(values: list[float]) -> None:
    times = [T0 + timedelta(minutes=10 * i) for i in range(len(values))]
    end = times[-1] + timedelta(minutes=30)
    root = parse(time_chart([Panel([Series("a", times, values)], style="step")], title="t", x_range=(times[0], end)))
    (d,) = paths(root, "step")
    parts = commands(d)
    assert [c for c, _ in parts] == ["M"] + ["H", "V"] * (len(values) - 1) + ["H"]  # 1 + 2(n-1) + 1 - 1 moves
    right = commands(paths(root, "axis")[0])[-1][1][0]  # the x axis ends at the end of the range
    x_at = [parts[0][1][0]] + [args[0] for c, args in parts if c == "H"]
    assert x_at == sorted(x_at) and x_at[-1] == right  # each value holds until the next point, the last to `end`
    to_pixel = y_mapping(root)
    y_at = [parts[0][1][1]] + [args[0] for c, args in parts if c == "V"]
    assert all(abs(y - to_pixel(v)) <= 0.2 for y, v in zip(y_at, values, strict=True))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.floats(-1000, 1000, allow_nan=False, allow_subnormal=False), min_size=1, max_size=40),
                min_size=1, max_size=6))  # fmt: skip
def test_box_whiskers_sit_at_the_5th_and_95th_percentiles(groups: list[list[float]]) -> None:
    root = parse(box_chart([(f"g {i}\n{len(v)} pairs", v) for i, v in enumerate(groups)], title="t"))
    to_pixel = y_mapping(root)
    whiskers, boxes, medians = paths(root, "whisker"), paths(root, "box"), paths(root, "median")
    assert len(whiskers) == len(boxes) == len(medians) == len(groups)
    for values, whisker, box, median in zip(groups, whiskers, boxes, medians, strict=True):
        low, q1, mid, q3, high = np.percentile(values, [5, 25, 50, 75, 95])
        (_, (_, w_q1)), (_, (w_low,)), (_, (_, w_q3)), (_, (w_high,)) = commands(whisker)[:4]
        assert abs(w_low - to_pixel(low)) <= 0.2 and abs(w_high - to_pixel(high)) <= 0.2
        assert abs(w_q1 - to_pixel(q1)) <= 0.2 and abs(w_q3 - to_pixel(q3)) <= 0.2
        box_ys = {round(args[-1], 1) for c, args in commands(box) if c in "MV"}
        assert box_ys == {w_q1, w_q3}
        assert abs(commands(median)[0][1][1] - to_pixel(mid)) <= 0.2
    assert texts(root, "tick-x")[0] == f"g 0{len(groups[0])} pairs"  # two lines (tspans) of one label
    stats = box_stats([1.0, np.nan, 3.0])
    assert stats is not None and (stats.low, stats.median, stats.high) == (1.1, 2.0, 2.9)


FINITE = st.floats(-1e12, 1e12, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(FINITE, FINITE, st.integers(3, 12))
def test_nice_ticks_cover_the_range_evenly_in_1_2_5_steps(a: float, b: float, max_ticks: int) -> None:
    lo, hi = min(a, b), max(a, b)
    ticks = nice_ticks(a, b, max_ticks)
    assert 2 <= len(ticks) <= max_ticks
    step = ticks[1] - ticks[0]
    tol = 1e-6 * step + 1e-12 * max(1.0, abs(lo), abs(hi))
    assert step > 0 and all(t1 > t0 for t0, t1 in pairwise(ticks))
    assert all(abs((t1 - t0) - step) <= tol for t0, t1 in pairwise(ticks))
    assert ticks[0] <= lo + tol and ticks[-1] >= hi - tol
    if hi - lo > max(1e-9 * max(abs(lo), abs(hi)), 1e-12):  # not widened: no more than a step of slack on either side
        assert ticks[0] > lo - step - tol and ticks[-1] < hi + step + tol
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert any(math.isclose(mantissa, m, rel_tol=1e-6) for m in (1, 2, 5, 10))
    labels = tick_labels(ticks)
    assert len(set(labels)) == len(labels)  # the decimals tell every tick apart


def test_nice_ticks_examples() -> None:
    assert nice_ticks(0, 2290, 8) == [0, 500, 1000, 1500, 2000, 2500]
    assert nice_ticks(0.0274, 0.0306, 6) == [0.027, 0.028, 0.029, 0.03, 0.031]
    assert tick_labels([0.027, 0.028, 0.029, 0.03]) == ["0.027", "0.028", "0.029", "0.030"]
    assert nice_ticks(5, 5) == [4.7, 4.8, 4.9, 5.0, 5.1, 5.2, 5.3]  # a single value is widened by 5 %
    assert nice_ticks(-0.1, 0.1, 3) == [-0.1, 0.0, 0.1]
    assert nice_ticks(float("nan"), 1.0, 3) == [0.0, 0.5, 1.0]


DAY_STEPS = {n * 86400 for n in (50, 100, 200, 500, 1000, 2000, 5000)}


@settings(max_examples=300, deadline=None)
@given(st.floats(946_684_800, 4_102_444_800), st.floats(120, 400 * 86400), st.integers(6, 12))
def test_time_ticks_fall_inside_the_range_on_round_times(start: float, span: float, max_ticks: int) -> None:
    end = start + span
    ticks = time_ticks(start, end, max_ticks)
    assert 2 <= len(ticks) <= max_ticks
    assert start <= ticks[0] and ticks[-1] <= end
    step = ticks[1] - ticks[0]
    assert step in TIME_STEPS or step in DAY_STEPS
    assert all(t1 - t0 == step for t0, t1 in pairwise(ticks))
    assert all(t % step == 0 for t in ticks)  # on round times: day steps at UTC midnight
    labels = time_labels(ticks)
    pattern = r"\d\d-\d\d" if step >= 86400 else r"\d\d-\d\d \d\d:\d\d|\d\d:\d\d"
    assert all(re.fullmatch(pattern, label) for label in labels)
    assert re.fullmatch(r"\d\d-\d\d.*", labels[0])  # the first tick tells the day


def test_time_ticks_pick_the_step_by_span() -> None:
    start = pd.Timestamp("2025-12-12 13:20", tz="UTC").timestamp()
    day = time_ticks(start, start + 86400, 8)
    assert day[1] - day[0] == 3 * 3600
    assert time_labels(day)[:4] == ["12-12 15:00", "18:00", "21:00", "12-13 00:00"]
    hour = time_ticks(start, start + 3600, 8)
    assert hour[1] - hour[0] == 600 and time_labels(hour)[0] == "12-12 13:20"
    week = time_ticks(start, start + 7 * 86400, 8)
    assert week[1] - week[0] == 86400 and time_labels(week)[0] == "12-13"


def test_times_of_any_kind_are_utc_seconds() -> None:
    naive, aware = datetime(2025, 12, 13, 13, 20), T0
    expected = T0.timestamp()
    for values in ([naive, aware, pd.Timestamp(T0), None], pd.Series([aware, aware, aware, pd.NaT]),
                   pd.Series(pd.to_datetime([naive, naive, naive, None]))):  # fmt: skip
        seconds = to_epoch_seconds(values)
        assert seconds[:3].tolist() == [expected] * 3 and math.isnan(seconds[3])


def test_stacked_bars_go_top_down_with_segments_left_to_right() -> None:
    root = parse(stacked_bar_chart(["AE Central", "US East"], [("High", "#2e7d32", [3, 10]),
                                                               ("Low", "#c62828", [1, 0])], title="mix"))  # fmt: skip
    assert texts(root, "tick-y") == ["AE Central", "US East"]
    high, low = (paths(root, "bars")[i] for i in (0, 1))
    (_, (x0, y0)), (_, (w,)), *_ = commands(high)
    assert low.count("M") == 1  # the zero-width segment is left out
    assert commands(low)[0][1][0] == pytest.approx(x0 + w, abs=0.1) and commands(low)[0][1][1] == y0
    assert [t for t in texts(root) if t in ("High", "Low")] == ["High", "Low"]  # the legend


def test_the_report_charts_draw_their_data() -> None:
    history = pd.DataFrame({
        "time": [T0 - timedelta(minutes=30), T0 - timedelta(minutes=10), T0 - timedelta(minutes=30)],
        "InstanceType": "D2s_v3", "Region": "eastus", "RegionCode": "eastus", "AvailabilityZone": ["1", "1", "2"],
        "SpotPrice": [0.02, 0.021, 0.019], "Score": [3.0, 2.0, 1.0],
    })  # fmt: skip
    root = parse(report.history_chart(history, "D2s_v3", "eastus", "US East", T0))
    assert root[0].text == "D2s_v3 in US East (eastus): spot price and placement score"
    steps = paths(root, "step")
    assert len(steps) == 4  # price and score of two zones
    assert [c for c, _ in commands(steps[0])] == ["M", "H", "V", "H"]  # zone 1's two records, held to the slot
    assert {"Low", "Medium", "High", "zone 1", "zone 2", "spot USD/h", "UTC"} <= set(texts(root))
    runs = pd.DataFrame({"phase": ["total", "merge", "total"], "seconds": [100, 20, "x"], "exit_code": 0,
                         "slot": [T0 - timedelta(minutes=10), T0, T0]})  # fmt: skip
    durations = parse(report.durations_chart(runs))
    assert len(paths(durations, "markers")) == 2 and {"merge", "total", "seconds"} <= set(texts(durations))
    assert min(float(t) for t in texts(durations, "tick-y")) == 0  # y from 0

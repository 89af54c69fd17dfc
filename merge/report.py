"""The HTML report ``reports/azure/index.html``: one self-contained page written after every merge.

What it shows: the run (rows, changes, SPS calls and quota headroom, subscriptions needed, fallbacks, the
durations and failures of the last 24 h from the monitoring objects), the latest dataset as a filterable,
sortable table with CSV export, and charts: spot price and score history of a chosen size/region (per
zone), the score mix per region, savings against IF, and the run durations.

Self-contained: charts are inline SVG written by ``merge/svg_charts.py`` (text kept as text, no fonts or
images fetched), the table data is embedded JSON and the table code is a small inline script; nothing is
loaded from the network, so the page opens offline. Size: the table holds one row per (tier, size, region)
(price, savings and IF are per pair; the zones' scores are folded into one cell), about 2.4 MB for the
bundled world catalog (``bench/bench_report.py``), under the 5 MB budget.

``gather_inputs`` does the I/O (state summary, SPS run, monitoring, history from the sink); ``render``
is pure (frames and dicts -> bytes); ``publish_report`` is the merge's hook: writing the report never fails
the run's data commit.
"""

from __future__ import annotations

import html
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from merge import svg_charts
from utils.constants import MONITORING_PREFIX, sps_saved_key
from utils.errors import CorruptObject, ObjectNotFound, SpotlakeError
from utils.query import HistoryQuery, read_history
from utils.store import Store
from utils.store_io import read_csv_gz, read_json
from utils.timestamps import slot_iso

log = logging.getLogger(__name__)

REPORT_KEY = "reports/azure/index.html"
TEMPLATE = Path(__file__).resolve().parent / "templates" / "report.html"
HISTORY_WINDOW = timedelta(days=7)
MONITORING_WINDOW = timedelta(hours=24)
MAX_SERIES = 6
# Sizes people look for first (SpotLake's and SkyPilot's usual examples), then the cheapest per vCPU.
WELL_KNOWN_SIZES = ("D2s_v3", "D2ps_v5", "NC24ads_A100_v4", "D4s_v5", "E4s_v5", "F4s_v2")
PREFERRED_REGIONS = ("eastus", "westus2", "westeurope")
SCORE_LABELS = {3.0: "High", 2.0: "Medium", 1.0: "Low"}
SCORE_COLOURS = {"High": "#2e7d32", "Medium": "#f9a825", "Low": "#c62828", "no score": "#9e9e9e"}
TABLE_COLUMNS = ["InstanceTier", "InstanceType", "Region", "RegionCode", "InstanceFamily", "vCPUs", "MemoryGiB",
                 "GPUs", "Architecture", "SpotPrice", "OndemandPrice", "Savings", "SpotPricePerVcpu", "IF",
                 "Scores", "BestScore", "T2", "T3", "LastProbed"]  # fmt: skip
TEXT_TABLE_COLUMNS = {"InstanceTier", "InstanceType", "Region", "RegionCode", "InstanceFamily", "Architecture",
                      "Scores", "LastProbed"}  # fmt: skip


@dataclass(frozen=True)
class ReportInputs:
    """Everything the page shows, read before rendering."""

    slot: datetime
    merged: pd.DataFrame  # the committed merged dataset (internal naming, with the spec columns)
    summary: dict[str, Any]  # the merge summary (last_merge_summary.json)
    sps_run: dict[str, Any] | None  # the SPS collector's last_run.json
    runs: pd.DataFrame  # monitoring executionTime rows of the last 24 h, with a ``slot`` column
    history: pd.DataFrame | None  # change records of the chosen series (None: sink not readable here)
    series: list[tuple[str, str]] = field(default_factory=list)  # (InstanceType, Region code) charted
    notes: list[str] = field(default_factory=list)  # what could not be shown, and why


# ---------------------------------------------------------------------------------------------------------
# Inputs (I/O)


def choose_series(merged: pd.DataFrame, limit: int = MAX_SERIES) -> list[tuple[str, str]]:
    """(InstanceType, Region) pairs to chart: well-known sizes first (in a preferred region when offered),
    then the cheapest per vCPU with a spot price; at most ``limit``, deterministic."""
    priced = merged[merged["SpotPrice"].notna()]
    pairs = priced[["InstanceType", "Region"]].drop_duplicates()
    chosen: list[tuple[str, str]] = []
    for size in WELL_KNOWN_SIZES:
        regions = sorted(pairs.loc[pairs["InstanceType"] == size, "Region"].astype(str))
        if regions:
            region = next((r for r in PREFERRED_REGIONS if r in regions), regions[0])
            chosen.append((size, region))
    if "SpotPricePerVcpu" in priced.columns:
        cheapest = priced.sort_values(["SpotPricePerVcpu", "InstanceType", "Region"], kind="stable")
        for size, region in cheapest[["InstanceType", "Region"]].drop_duplicates().itertuples(index=False):
            if len(chosen) >= limit:
                break
            if (size, region) not in chosen and size not in {s for s, _ in chosen}:
                chosen.append((str(size), str(region)))
    return chosen[:limit]


def read_runs(store: Store, slot: datetime) -> pd.DataFrame:
    """The monitoring ``executionTime`` rows of the runs in (slot - 24 h, slot], with their ``slot``."""
    frames = []
    days = sorted({(slot - MONITORING_WINDOW).strftime("%Y/%m/%d"), slot.strftime("%Y/%m/%d")})
    for day in days:
        for key in store.list_keys(f"{MONITORING_PREFIX}/executionTime/{day}/"):
            name = key.rsplit("/", 1)[-1]
            try:
                run_slot = datetime.strptime(f"{day} {name[:5]}", "%Y/%m/%d %H-%M").replace(tzinfo=slot.tzinfo)
            except ValueError:
                continue
            if not slot - MONITORING_WINDOW < run_slot <= slot:
                continue
            try:
                frame = read_csv_gz(store, key)
            except (ObjectNotFound, CorruptObject) as exc:
                # One unreadable monitoring object only thins the durations chart; the report says so.
                log.warning("report: monitoring object skipped: %s", exc)
                continue
            frames.append(frame.assign(slot=run_slot))
    if not frames:
        return pd.DataFrame({c: [] for c in ["phase", "seconds", "exit_code", "slot"]})
    return pd.concat(frames, ignore_index=True)


def gather_inputs(
    settings: Any, store: Store, merged: pd.DataFrame, summary: dict[str, Any], slot: datetime
) -> ReportInputs:
    """Read what the page shows besides the merged dataset: the SPS run, monitoring and history."""
    notes: list[str] = []
    try:
        sps_run = read_json(store, sps_saved_key("last_run.json"))
    except (ObjectNotFound, CorruptObject) as exc:
        sps_run = None
        notes.append(f"SPS run statistics unavailable ({exc})")
    runs = read_runs(store, slot)
    series = choose_series(merged)
    history: pd.DataFrame | None = None
    if settings.timeseries.kind in ("sqlite", "parquet") and series:
        query = HistoryQuery(sizes=tuple(sorted({s for s, _ in series})), since=slot - HISTORY_WINDOW, until=slot)
        try:
            history = read_history(settings, store, query)
        except SpotlakeError as exc:
            # The charts of history are left out and the page says so; the rest of the report stands. The
            # note names no path, so the same data gives the same page wherever the store is.
            log.warning("report: history unavailable: %s", exc)
            notes.append(f"history unavailable: the {settings.timeseries.kind} sink could not be read "
                         f"({type(exc).__name__}; see the merge log)")  # fmt: skip
    else:
        notes.append(f"history charts need the SQLite or Parquet sink (this run writes {settings.timeseries.kind})")
    return ReportInputs(slot=slot, merged=merged, summary=summary, sps_run=sps_run if isinstance(sps_run, dict)
                        else None, runs=runs, history=history, series=series, notes=notes)  # fmt: skip


# ---------------------------------------------------------------------------------------------------------
# Pure rendering


def table_frame(merged: pd.DataFrame) -> pd.DataFrame:
    """One row per (tier, size, region): the pair's price, savings, IF and specs, the zones' scores as
    ``1:High 2:Medium`` text, the best score, the largest T2/T3 over the zones and the latest probe."""
    frame = merged.copy()
    frame["ScoreText"] = frame["AvailabilityZone"].astype(str) + ":" + frame["Score"].map(SCORE_LABELS).fillna("-")
    frame = frame.sort_values(["InstanceTier", "InstanceType", "Region", "AvailabilityZone"], kind="stable")
    keys = ["InstanceTier", "InstanceType", "Region"]
    grouped = frame.groupby(keys, sort=True, observed=True)
    first = grouped[["RegionName", "InstanceFamily", "vCPUs", "MemoryGiB", "GPUs", "Architecture", "SpotPrice",
                     "OndemandPrice", "Savings", "SpotPricePerVcpu", "IF"]].first()  # fmt: skip
    table = first.assign(
        Scores=grouped["ScoreText"].agg(" ".join),
        BestScore=grouped["Score"].max(),
        T2=grouped["T2"].max(),
        T3=grouped["T3"].max(),
        LastProbed=pd.to_datetime(grouped["Time"].max(), utc=True).dt.strftime("%Y-%m-%d %H:%M"),
    ).reset_index()
    table["RegionCode"] = table["Region"]
    table["Region"] = table["RegionName"].where(table["RegionName"].notna(), table["Region"])
    return table[TABLE_COLUMNS]


def table_json(table: pd.DataFrame) -> str:
    """The table as compact columnar JSON: text columns as (values, codes), numbers rounded, null missing.

    ``</`` is escaped so the JSON can sit inside a ``<script>`` element.
    """
    columns: dict[str, Any] = {}
    for column in TABLE_COLUMNS:
        values = table[column]
        if column in TEXT_TABLE_COLUMNS:
            codes, uniques = pd.factorize(values.astype(object).where(values.notna(), ""), sort=True)
            columns[column] = {"values": [str(u) for u in uniques], "codes": codes.tolist()}
        else:
            numbers = pd.to_numeric(values, errors="coerce").astype("float64").round(6)
            columns[column] = [None if np.isnan(v) else (int(v) if v == int(v) else v) for v in numbers.tolist()]
    text = json.dumps({"rows": len(table), "columns": columns}, separators=(",", ":"), allow_nan=False)
    return text.replace("</", "<\\/")


def history_chart(history: pd.DataFrame, size: str, region: str, display: str, slot: datetime) -> str:
    """Spot price (top) and score per zone (bottom) of one size in one region, as step lines that hold
    each recorded value until the next record, up to ``slot``."""
    rows = history[(history["InstanceType"] == size) & ((history["RegionCode"] == region)
                                                        | (history["Region"] == region))]  # fmt: skip
    prices: list[svg_charts.Series] = []
    scores: list[svg_charts.Series] = []
    for index, (zone_name, zone_rows) in enumerate(rows.groupby("AvailabilityZone", sort=True)):
        label, colour = f"zone {zone_name}", svg_charts.PALETTE[index % len(svg_charts.PALETTE)]
        prices.append(svg_charts.Series(label, zone_rows["time"], zone_rows["SpotPrice"], colour))
        scores.append(svg_charts.Series(label, zone_rows["time"], zone_rows["Score"], colour))
    start = rows["time"].min() if len(rows) else slot
    return svg_charts.time_chart(
        [svg_charts.Panel(prices, y_label="spot USD/h", style="step", weight=3),
         svg_charts.Panel(scores, style="step", y_ticks=[(1, "Low"), (2, "Medium"), (3, "High")],
                          y_range=(0.5, 3.5), weight=2)],
        title=f"{size} in {display} ({region}): spot price and placement score",
        x_range=(start, pd.Timestamp(slot)), x_label="UTC", height=420,
    )  # fmt: skip


def score_mix_chart(merged: pd.DataFrame) -> str:
    """Rows per region by latest score (High / Medium / Low / no score), stacked horizontal bars."""
    labels = merged["Score"].map(SCORE_LABELS).fillna("no score")
    region = merged["RegionName"].where(merged["RegionName"].notna(), merged["Region"]).astype(str)
    counts = pd.crosstab(region, labels).reindex(columns=list(SCORE_COLOURS), fill_value=0).sort_index()
    return svg_charts.stacked_bar_chart(
        counts.index.tolist(), [(label, colour, counts[label].to_numpy()) for label, colour in SCORE_COLOURS.items()],
        title="Score mix per region", x_label="rows (size x zone) by latest placement score",
    )


def savings_chart(merged: pd.DataFrame) -> str:
    """Spot savings against on-demand by IF score (box per IF value, whiskers 5-95 %), one point per pair."""
    pairs = merged.drop_duplicates(["InstanceTier", "InstanceType", "Region"])
    pairs = pairs[pairs["Savings"].notna()]
    groups = [(value, pairs.loc[pairs["IF"] == value, "Savings"].to_numpy()) for value in (1.0, 1.5, 2.0, 2.5, 3.0)]
    groups.append((None, pairs.loc[pairs["IF"].isna(), "Savings"].to_numpy()))
    groups = [(v, s) for v, s in groups if len(s)]
    labels = [("no IF" if v is None else f"IF {v:g}") + f"\n{len(s)} pairs" for v, s in groups]
    return svg_charts.box_chart(list(zip(labels, [s for _, s in groups], strict=True)), whiskers=(5.0, 95.0),
                                title="Savings against interruption frequency (IF 3.0 = evicted least)",
                                y_label="savings vs on-demand, %")  # fmt: skip


def durations_chart(runs: pd.DataFrame) -> str:
    """Seconds per phase of the runs of the last 24 h."""
    series = [svg_charts.Series(str(phase), rows["slot"], pd.to_numeric(rows["seconds"], errors="coerce"))
              for phase, rows in runs.sort_values("slot").groupby("phase", sort=True)]  # fmt: skip
    end = pd.Timestamp(runs["slot"].max()) if len(runs) else pd.NaT
    # The window, also for a single run; y from 0.
    window = None if pd.isna(end) else (end - MONITORING_WINDOW, end + timedelta(minutes=10))
    return svg_charts.time_chart([svg_charts.Panel(series, y_label="seconds", markers=True, y_from_zero=True)],
                                 title="Run durations, last 24 h", x_range=window, x_label="UTC",
                                 height=300)  # fmt: skip


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def run_facts(inputs: ReportInputs) -> list[tuple[str, str]]:
    """(label, value) lines of the run panel."""
    summary, sps = inputs.summary, inputs.sps_run or {}
    facts = [
        ("slot", slot_iso(inputs.slot)),
        ("rows", _fmt(summary.get("rows", len(inputs.merged)))),
        ("changes (new rows)", f"{_fmt(summary.get('changes'))} ({_fmt(summary.get('new_rows'))})"),
        ("time-series records", _fmt(summary.get("timeseries_records"))),
        ("desired count", _fmt(summary.get("desired_count"))),
        ("price / IF data from", f"{summary.get('price_slot', '-')} / {summary.get('if_slot', '-')}"),
    ]
    if sps:
        configured, needed = sps.get("subscriptions"), sps.get("subscriptions_needed_per_slot")
        headroom = "-"
        if isinstance(configured, int) and isinstance(needed, int) and configured:
            headroom = f"{configured - needed} subscriptions ({(configured - needed) / configured:.0%})"
        calls = f"{_fmt(sps.get('calls_made'))} / {_fmt(sps.get('planned_calls'))} / {_fmt(sps.get('calls_not_made'))}"
        facts += [
            ("SPS calls made / planned / not made", calls),
            ("SPS pairs scored / planned", f"{_fmt(sps.get('pairs_scored'))} / {_fmt(sps.get('pairs_planned'))}"),
            ("SPS HTTP 429s, retries", f"{_fmt(sps.get('http_429'))}, {_fmt(sps.get('retries'))}"),
            ("subscriptions configured / needed per slot", f"{_fmt(configured)} / {_fmt(needed)}"),
            ("quota headroom", headroom),
            ("sweep partial", "yes" if sps.get("partial") else "no"),
        ]
    runs = inputs.runs
    if len(runs):
        totals = runs[runs["phase"] == "total"]
        failed = runs[pd.to_numeric(runs["exit_code"], errors="coerce").fillna(0) != 0]
        failed_runs = failed["slot"].nunique()
        facts += [
            ("runs in the last 24 h (monitoring)", str(runs["slot"].nunique())),
            ("failed runs in the last 24 h", str(failed_runs)),
        ]
        if len(totals):
            last = totals.sort_values("slot").iloc[-1]
            facts.append(("last stored run total", f"{float(last['seconds']):.1f} s ({slot_iso(last['slot'])})"))
    return facts


def failure_lines(runs: pd.DataFrame) -> list[str]:
    """``slot phase exit N`` for every failed phase of the last 24 h, newest first."""
    if not len(runs):
        return []
    failed = runs[pd.to_numeric(runs["exit_code"], errors="coerce").fillna(0) != 0].sort_values("slot", ascending=False)
    return [f"{slot_iso(row.slot)} {row.phase} exit {row.exit_code}" for row in failed.itertuples(index=False)]


def render(inputs: ReportInputs) -> bytes:
    """The page (UTF-8 bytes) for ``inputs``; pure."""
    merged = inputs.merged
    charts: list[tuple[str, str]] = []  # (title, svg)
    series_options: list[tuple[str, str]] = []  # (label, svg)
    if inputs.history is not None:
        names = dict(zip(merged["Region"].astype(str), merged["RegionName"].fillna(merged["Region"]).astype(str),
                         strict=True))  # fmt: skip
        for size, region in inputs.series:
            display = names.get(region, region)
            series_options.append((f"{size} - {display}",
                                   history_chart(inputs.history, size, region, display, inputs.slot)))  # fmt: skip
    if len(merged):
        charts.append(("Score mix per region", score_mix_chart(merged)))
        if merged["Savings"].notna().any():
            charts.append(("Savings against IF", savings_chart(merged)))
    if len(inputs.runs):
        charts.append(("Run durations", durations_chart(inputs.runs)))

    facts = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in run_facts(inputs))
    failures = failure_lines(inputs.runs)
    failure_html = ("<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in failures) + "</ul>") if failures \
        else "<p>No failed phase in the monitoring objects of the last 24 h.</p>"  # fmt: skip
    notes = "".join(f"<p class=note>{html.escape(n)}</p>" for n in inputs.notes)
    options = "".join(f'<option value="{i}">{html.escape(label)}</option>'
                      for i, (label, _) in enumerate(series_options))  # fmt: skip
    series_svgs = "".join(f'<div class="series chart" data-series="{i}"{"" if i == 0 else " hidden"}>{svg}</div>'
                          for i, (_, svg) in enumerate(series_options))  # fmt: skip
    history_html = (f'<label>Series <select id="series">{options}</select></label>{series_svgs}' if series_options
                    else "<p class=note>No history chart (see the notes above).</p>")  # fmt: skip
    chart_html = "".join(f'<section><h2>{html.escape(t)}</h2><div class="chart">{svg}</div></section>'
                         for t, svg in charts)  # fmt: skip
    page = TEMPLATE.read_text(encoding="utf-8")
    for marker, value in (
        ("{{TITLE}}", html.escape(f"SpotLake Azure: {slot_iso(inputs.slot)}")),
        ("{{FACTS}}", facts),
        ("{{FAILURES}}", failure_html),
        ("{{NOTES}}", notes),
        ("{{HISTORY}}", history_html),
        ("{{CHARTS}}", chart_html),
        ("{{DATA}}", table_json(table_frame(merged)) if len(merged) else table_json(table_frame(merged.head(0)))),
    ):
        page = page.replace(marker, value)
    return page.encode("utf-8")


# ---------------------------------------------------------------------------------------------------------
# The merge's hook


def write_report(settings: Any, store: Store, merged: pd.DataFrame, summary: dict[str, Any], slot: datetime) -> int:
    """Gather, render and store the report (public, like the latest JSON); returns its size in bytes."""
    started = time.monotonic()
    page = render(gather_inputs(settings, store, merged, summary, slot))
    store.put_bytes(REPORT_KEY, page, content_type="text/html; charset=utf-8", public=True)
    log.info("report %s written: %d bytes in %.2fs", REPORT_KEY, len(page), time.monotonic() - started)
    return len(page)


def publish_report(settings: Any, store: Store, merged: pd.DataFrame, summary: dict[str, Any], slot: datetime) -> bool:
    """``write_report`` after the data commit; a failure is logged and alerted, never raised. True if written."""
    try:
        write_report(settings, store, merged, summary, slot)
        return True
    except Exception as exc:
        # The report is a view of data already committed (latest state, archive, sink): without it the run's
        # outputs are complete and consistent, and the next run rewrites it. So the run stays a success, and
        # this process alerts itself (the orchestrator alerts only on a failed run).
        from utils.slack_msg_sender import send_alert

        log.exception("report %s not written (the data of %s is committed)", REPORT_KEY, slot_iso(slot))
        send_alert(settings, f"SpotLake Azure merge: the report of {slot_iso(slot)} was not written "
                             f"({type(exc).__name__}: {exc}); the data is committed")  # fmt: skip
        return False

"""SpotLake's consumer contract for the Azure dataset, written down as data, and checkers for it.

Who reads what (public repository ddps-lab/spotlake, its Azure collector and ``frontend/``, January 2026):
the web client's grid reads ``latest_data/latest_azure.json`` and shows ``Time`` as written; its query chart
asks the query API, which reads Timestream by the four dimensions; its dropdowns read
``query-selector/associated/association_azure.json``; monthly archive zips bundle the CSV.gz archives;
CloudWatch metric filters parse the count line. Nothing here is imported from the code under test: the
contract is what consumers rely on, checked against what a real run wrote.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

DESIRED_COUNTS = (1, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50)
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")  # UTC, no zone suffix, no "T"
DISPLAY_LOCATION_RE = re.compile(r"^[A-Z][A-Za-z]*( [A-Za-z0-9]+)*$")  # "US East", "EU West", "US East 2"
ARM_CODE_RE = re.compile(r"^[a-z][a-z0-9]*$")  # "eastus", "westus2"
MISSING_NUMBER = -1
MISSING_TEXT = "N/A"


@dataclass(frozen=True)
class Field:
    """One public field: its JSON type, and a check of its value (missing values included)."""

    name: str
    kind: type  # the JSON value's Python type after json.loads (float also accepts an int-valued number)
    check: Callable[[Any], bool]
    meaning: str


def _price(value: float) -> bool:
    return value == MISSING_NUMBER or (math.isfinite(value) and value >= 0)


def _savings(value: float) -> bool:
    return value == MISSING_NUMBER or (math.isfinite(value) and value <= 100)


# The public row: latest JSON records and CSV.gz archive rows, in this column order.
PUBLIC_ROW: tuple[Field, ...] = (
    Field("InstanceTier", str, lambda v: v in {"Standard", "Basic"}, "tier of the ARM size name"),
    Field("InstanceType", str, lambda v: re.fullmatch(r"[A-Za-z0-9_]+", v) is not None, "size without tier"),
    Field("Region", str, lambda v: DISPLAY_LOCATION_RE.match(v) is not None or ARM_CODE_RE.match(v) is not None,
          "Retail Prices display location (US East); the ARM code only when no display location is known"),
    Field("RegionCode", str, lambda v: ARM_CODE_RE.match(v) is not None, "ARM region code (eastus)"),
    Field("InstanceFamily", str, lambda v: v != "", "VM family, N/A when unknown"),
    Field("OndemandPrice", float, _price, "USD per hour, Linux, pay-as-you-go; -1 unknown"),
    Field("SpotPrice", float, _price, "USD per hour, Linux, Spot; -1 unknown"),
    Field("Savings", float, _savings, "percent saved by Spot; -1 unknown"),
    Field("IF", float, lambda v: v in {-1.0, 1.0, 1.5, 2.0, 2.5, 3.0}, "interruption-frequency score; -1 unknown"),
    Field("DesiredCount", int, lambda v: v in DESIRED_COUNTS, "VM count of the last SPS probe"),
    Field("AvailabilityZone", str, lambda v: v in {"1", "2", "3", "Single", MISSING_TEXT}, "zone or Single"),
    Field("Score", int, lambda v: v in {-1, 1, 2, 3}, "SPS 3 High, 2 Medium, 1 Low; -1 no score"),
    Field("T2", int, lambda v: v in {0, *DESIRED_COUNTS}, "largest count scoring Medium or High; 0 none"),
    Field("T3", int, lambda v: v in {0, *DESIRED_COUNTS}, "largest count scoring High; 0 none"),
    Field("Time", str, lambda v: TIME_RE.match(v) is not None, "UTC slot of the row's last SPS probe"),
)
PUBLIC_COLUMNS = tuple(f.name for f in PUBLIC_ROW)

# query-selector/azure/query_selector.json: a list of these objects, sorted, distinct.
SELECTOR_KEYS = ("InstanceTier", "InstanceType", "Region")
# query-selector/associated/association_azure.json: [{InstanceType: {"Region": [...], "InstanceTier": [...]}}]
ASSOCIATION_VALUE_KEYS = ("Region", "InstanceTier")

# Timestream (SpotLake's table azure): the record shape its query API reads.
TIMESTREAM_DIMENSIONS = ("InstanceTier", "InstanceType", "Region", "AvailabilityZone")
TIMESTREAM_MEASURE_NAME = "azure_values"
TIMESTREAM_MEASURES: Mapping[str, str] = {
    "DesiredCount": "DOUBLE", "OndemandPrice": "DOUBLE", "SpotPrice": "DOUBLE", "Savings": "DOUBLE",
    "IF": "DOUBLE", "T2": "DOUBLE", "T3": "DOUBLE", "Score": "VARCHAR", "Time": "VARCHAR",
}  # fmt: skip
TIMESTREAM_SCORE_VALUES = {"3", "2", "1", "-1"}

# SQLite / Parquet sinks: these columns plus ``time`` (the slot).
TABLE_COLUMNS = (*TIMESTREAM_DIMENSIONS, "RegionCode", "DesiredCount", "OndemandPrice", "SpotPrice", "Savings",
                 "IF", "T2", "T3", "Score")  # fmt: skip

# Our extras, added beside SpotLake's shape and never instead of it: the VM specs (issue 16) follow the
# public columns in the CSV archive and the SQLite / Parquet sinks; never in the latest JSON or Timestream.
EXTRA_SPEC_COLUMNS = ("vCPUs", "MemoryGiB", "GPUs", "Architecture", "SpotPricePerVcpu")

# CloudWatch Logs (Collection-Data-Count / Azure-Count): one event per slot, this message exactly.
CLOUDWATCH_MESSAGE_RE = re.compile(r"^AZUREONDEMAND: (\d+) AZURESPOT: (\d+) AZUREIF: (\d+) AZURESPS: (\d+)$")


def row_problems(row: Mapping[str, Any]) -> list[str]:
    """What is wrong with one public row (JSON record), empty when it keeps the contract."""
    problems = []
    if tuple(row) != PUBLIC_COLUMNS:
        problems.append(f"columns {list(row)} != {list(PUBLIC_COLUMNS)}")
    for spec in PUBLIC_ROW:
        if spec.name not in row:
            continue
        value = row[spec.name]
        typed = isinstance(value, spec.kind) and not isinstance(value, bool)
        if spec.kind is float and isinstance(value, int) and not isinstance(value, bool):
            typed = True
        if not typed:
            problems.append(f"{spec.name}={value!r} is not {spec.kind.__name__}")
        elif not spec.check(value):
            problems.append(f"{spec.name}={value!r} breaks: {spec.meaning}")
    return problems


def csv_row_as_json_types(row: Mapping[str, str]) -> dict[str, Any]:
    """An archive row (all cells read as text) with the contract's types applied, for ``row_problems``."""
    out: dict[str, Any] = {}
    for spec in PUBLIC_ROW:
        text = row[spec.name]
        out[spec.name] = spec.kind(float(text)) if spec.kind in (int, float) else text
    return out


def shape_problems(value: Any, shape: Any, path: str = "record") -> list[str]:
    """What ``value`` does that botocore's request ``shape`` does not allow: unknown or missing required
    members, wrong types, values outside an enum, strings or lists outside min/max."""
    problems: list[str] = []
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{path}: not an object"]
        problems += [f"{path}.{k}: not in the model" for k in value if k not in shape.members]
        problems += [f"{path}.{k}: required" for k in shape.required_members if k not in value]
        for name, member in shape.members.items():
            if name in value:
                problems += shape_problems(value[name], member, f"{path}.{name}")
    elif kind == "list":
        if not isinstance(value, list):
            return [f"{path}: not a list"]
        if len(value) < shape.metadata.get("min", 0) or len(value) > shape.metadata.get("max", math.inf):
            problems.append(f"{path}: {len(value)} items outside {shape.metadata}")
        for i, item in enumerate(value):
            problems += shape_problems(item, shape.member, f"{path}[{i}]")
    elif kind == "string":
        if not isinstance(value, str):
            return [f"{path}: {value!r} not a string"]
        if shape.enum and value not in shape.enum:
            problems.append(f"{path}: {value!r} not in {shape.enum}")
        if len(value) < shape.metadata.get("min", 0) or len(value) > shape.metadata.get("max", math.inf):
            problems.append(f"{path}: length {len(value)} outside {shape.metadata}")
    elif kind in {"long", "integer"} and (not isinstance(value, int) or isinstance(value, bool)):
        problems.append(f"{path}: {value!r} not an integer")
    return problems


def timestream_record_problems(record: Mapping[str, Any], slot_ms: int) -> list[str]:
    """What is wrong with one WriteRecords entry against SpotLake's record shape."""
    problems = []
    dimensions = {d["Name"]: d["Value"] for d in record.get("Dimensions", [])}
    if tuple(d["Name"] for d in record.get("Dimensions", [])) != TIMESTREAM_DIMENSIONS:
        problems.append(f"dimensions {list(dimensions)} != {list(TIMESTREAM_DIMENSIONS)}")
    region = dimensions.get("Region", "")
    if not (DISPLAY_LOCATION_RE.match(region) or ARM_CODE_RE.match(region)):
        problems.append(f"Region dimension {region!r} is not a display location")
    if (record.get("MeasureName"), record.get("MeasureValueType")) != (TIMESTREAM_MEASURE_NAME, "MULTI"):
        problems.append(f"measure {record.get('MeasureName')}/{record.get('MeasureValueType')}")
    measures = {m["Name"]: (m["Value"], m["Type"]) for m in record.get("MeasureValues", [])}
    if {name: kind for name, (_v, kind) in measures.items()} != dict(TIMESTREAM_MEASURES):
        problems.append(f"measures {measures}")
    for name, (value, kind) in measures.items():
        if kind == "DOUBLE" and not math.isfinite(float(value)):
            problems.append(f"{name}={value!r} not a finite DOUBLE")
    if measures.get("Score", ("",))[0] not in TIMESTREAM_SCORE_VALUES:
        problems.append(f"Score {measures.get('Score')} is not integer text")
    if not TIME_RE.match(measures.get("Time", ("",))[0]):
        problems.append(f"Time measure {measures.get('Time')} is not YYYY-MM-DD HH:MM:SS")
    if (record.get("Time"), record.get("TimeUnit")) != (str(slot_ms), "MILLISECONDS"):
        problems.append(f"record time {record.get('Time')} {record.get('TimeUnit')} is not the slot {slot_ms}")
    return problems

"""VM specs per size (vCPUs, memory, GPUs, CPU architecture) and the price per vCPU, pure.

The specs come from the ``capabilities`` of Compute Resource SKUs records (``utils.azure_api.skus``), ride in
the raw IF dataset beside the family, and are carried into the merged dataset, the state, the CSV archive
and the SQLite / Parquet time-series sinks. They are not in ``latest_azure.json`` and not Timestream
measures (SpotLake's web client and series keep their shape).

=================  ======================================================================================
column             meaning
=================  ======================================================================================
vCPUs              capability ``vCPUs`` (all vCPUs of the size, not ``vCPUsAvailable``)
MemoryGiB          capability ``MemoryGB``; Azure names it GB but the sizes pages give the same numbers
                   as "Memory: GiB" (learn.microsoft.com/azure/virtual-machines/sizes, observed 2026-12)
GPUs               capability ``GPUs``; Azure lists it only for GPU sizes, so a record without it has 0
Architecture       capability ``CpuArchitectureType`` (``x64`` / ``Arm64``); missing when not listed
SpotPricePerVcpu   SpotPrice / vCPUs, USD per vCPU-hour (derived; missing when either is missing or 0)
=================  ======================================================================================

Public outputs write a missing number as -1 and a missing text as ``N/A``, like every other column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SPEC_COLUMNS = ["vCPUs", "MemoryGiB", "GPUs", "Architecture"]
PRICE_PER_VCPU_COLUMN = "SpotPricePerVcpu"
MERGED_SPEC_COLUMNS = [*SPEC_COLUMNS, PRICE_PER_VCPU_COLUMN]
SPEC_TEXT_COLUMNS = ("Architecture",)
SPEC_NUMBER_COLUMNS = ("vCPUs", "MemoryGiB", "GPUs", PRICE_PER_VCPU_COLUMN)
SPEC_INTEGER_COLUMNS = ("vCPUs", "GPUs")  # whole numbers in public outputs
# Resource SKUs capability name -> spec column.
CAPABILITY_TO_COLUMN: dict[str, str] = {
    "vCPUs": "vCPUs", "MemoryGB": "MemoryGiB", "GPUs": "GPUs", "CpuArchitectureType": "Architecture",
}  # fmt: skip
MISSING_NUMBER = -1
MISSING_TEXT = "N/A"


def spec_columns_in(frame: pd.DataFrame) -> list[str]:
    """The ``MERGED_SPEC_COLUMNS`` that ``frame`` has, in canonical order."""
    return [c for c in MERGED_SPEC_COLUMNS if c in frame.columns]


def normalise_specs(frame: pd.DataFrame) -> pd.DataFrame:
    """``SPEC_COLUMNS`` of ``frame`` with canonical dtypes (float64 numbers, text or missing); absent
    columns are all missing. Index: a fresh RangeIndex."""
    out = pd.DataFrame(index=pd.RangeIndex(len(frame)))
    for column in SPEC_COLUMNS:
        if column not in frame.columns:
            out[column] = None if column in SPEC_TEXT_COLUMNS else np.nan
            continue
        values = frame[column].reset_index(drop=True)
        if column in SPEC_TEXT_COLUMNS:
            text = values.astype("str").str.strip()
            out[column] = text.where(values.notna() & (text != ""))
        else:
            out[column] = pd.to_numeric(values, errors="coerce").astype("float64")
    for column in SPEC_TEXT_COLUMNS:
        out[column] = out[column].astype("str").where(out[column].notna())
    return out


def price_per_vcpu(spot_price: pd.Series, vcpus: pd.Series) -> pd.Series:
    """SpotPrice / vCPUs; NaN where either is missing, vCPUs is not positive or the ratio is not finite."""
    price = pd.to_numeric(spot_price, errors="coerce").astype("float64").to_numpy()
    cpus = pd.to_numeric(vcpus, errors="coerce").astype("float64").to_numpy()
    with np.errstate(all="ignore"):
        ratio = price / cpus
    return pd.Series(np.where((cpus > 0) & np.isfinite(ratio), ratio, np.nan), dtype="float64")


def merged_specs(rows: pd.DataFrame) -> pd.DataFrame:
    """``MERGED_SPEC_COLUMNS`` for merged rows that carry (some of) ``SPEC_COLUMNS`` and ``SpotPrice``."""
    specs = normalise_specs(rows)
    specs[PRICE_PER_VCPU_COLUMN] = price_per_vcpu(rows["SpotPrice"].reset_index(drop=True), specs["vCPUs"])
    return specs


def public_specs(frame: pd.DataFrame) -> pd.DataFrame:
    """``MERGED_SPEC_COLUMNS`` of ``frame`` in the public shape: -1 for a missing number (vCPUs and GPUs as
    integers), ``N/A`` for a missing text; columns ``frame`` lacks are all missing."""
    out = pd.DataFrame(index=pd.RangeIndex(len(frame)))
    for column in MERGED_SPEC_COLUMNS:
        present = column in frame.columns
        values = frame[column].reset_index(drop=True) if present else pd.Series([None] * len(frame), dtype=object)
        if column in SPEC_TEXT_COLUMNS:
            text = values.astype("str").str.strip()
            out[column] = text.where(values.notna() & (text != "") & (text != "nan"), MISSING_TEXT).astype(object)
        else:
            numbers = pd.to_numeric(values, errors="coerce").astype("float64")
            numbers = numbers.where(np.isfinite(numbers)).fillna(float(MISSING_NUMBER))
            out[column] = numbers.round().astype("int64") if column in SPEC_INTEGER_COLUMNS else numbers
    return out


def with_public_specs(public: pd.DataFrame, merged: pd.DataFrame) -> pd.DataFrame:
    """``public`` (a public frame built row by row from ``merged``, same order) with the public spec
    columns appended; the archive's shape."""
    if len(public) != len(merged):
        raise ValueError(f"public frame has {len(public)} rows, merged {len(merged)}: not built from it")
    specs = public_specs(merged)
    return pd.concat([public.reset_index(drop=True), specs], axis=1)


def with_specs_of(records: pd.DataFrame, source: pd.DataFrame) -> pd.DataFrame:
    """``records`` (built row by row from ``source``, same order) with the spec columns ``source`` has;
    values as in ``source`` (the time-series sinks apply the public rules)."""
    if len(records) != len(source):
        raise ValueError(f"records have {len(records)} rows, their source {len(source)}: not built from it")
    specs = source[spec_columns_in(source)].reset_index(drop=True)
    return pd.concat([records.reset_index(drop=True), specs], axis=1)

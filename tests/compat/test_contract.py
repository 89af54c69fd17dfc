"""The written-down consumer contract itself: consistent with botocore's Timestream request model, and its
checkers catch what SpotLake's consumers would trip over (the real run's outputs are checked in
test_pipeline_outputs.py)."""

from __future__ import annotations

import botocore.session
import pandas as pd
import pytest

from tests.compat.contract import (
    PUBLIC_COLUMNS,
    TIMESTREAM_DIMENSIONS,
    TIMESTREAM_MEASURES,
    row_problems,
    shape_problems,
    timestream_record_problems,
)
from tests.utils.sink_records import SLOT, SLOT_MS, change_records
from utils.timeseries import build_timestream_records


@pytest.fixture(scope="module")
def record_shape():
    """The WriteRecords ``Record`` shape of botocore's timestream-write service model (the request model)."""
    model = botocore.session.get_session().get_service_model("timestream-write")
    return model.operation_model("WriteRecords").input_shape.members["Records"].member


def good_row() -> dict:
    return {
        "InstanceTier": "Standard", "InstanceType": "D2s_v3", "Region": "US East", "RegionCode": "eastus",
        "InstanceFamily": "standardDSv3Family", "OndemandPrice": 0.096, "SpotPrice": 0.0192, "Savings": 80.0,
        "IF": 3.0, "DesiredCount": 5, "AvailabilityZone": "1", "Score": 3, "T2": 5, "T3": 1,
        "Time": "2025-12-13 13:00:00",
    }  # fmt: skip


def test_the_contracts_timestream_shape_is_one_botocore_accepts(record_shape) -> None:
    measure_types = record_shape.members["MeasureValues"].member.members["Type"].enum
    assert set(TIMESTREAM_MEASURES.values()) <= set(measure_types)
    assert "MULTI" in record_shape.members["MeasureValueType"].enum
    assert len(TIMESTREAM_DIMENSIONS) <= record_shape.members["Dimensions"].metadata["max"]
    assert "RegionCode" not in TIMESTREAM_DIMENSIONS  # series keys stay SpotLake's


def test_records_as_the_sink_builds_them_match_botocores_model_and_the_contract(record_shape) -> None:
    for record in build_timestream_records(change_records(3), SLOT):
        assert shape_problems(record, record_shape) == []
        assert timestream_record_problems(record, SLOT_MS) == []


def test_the_shape_checker_refuses_what_botocores_model_refuses(record_shape) -> None:
    record = build_timestream_records(change_records(1), SLOT)[0]
    bad = {**record, "MeasureValueType": "FLOAT", "Extra": 1,
           "Dimensions": [{"Name": "Region", "Value": "US East", "DimensionValueType": "TEXT"}]}  # fmt: skip
    problems = shape_problems(bad, record_shape)
    assert any("MeasureValueType" in p for p in problems)
    assert any("Extra: not in the model" in p for p in problems)
    assert any("DimensionValueType" in p for p in problems)


def test_a_row_in_the_new_contract_passes_and_the_old_shape_is_caught() -> None:
    assert row_problems(good_row()) == []
    old = {**good_row(), "Time": "2025-12-13T13:00:00Z", "Score": 3.0}
    problems = row_problems(old)
    assert any(p.startswith("Time=") for p in problems)
    assert any(p.startswith("Score=3.0 is not int") for p in problems)
    renamed = dict(good_row())
    renamed["RegionName"] = renamed.pop("RegionCode")
    assert any("columns" in p for p in row_problems(renamed))


def test_the_public_columns_are_the_codes_public_columns() -> None:
    from merge.public import PUBLIC_COLUMNS as CODE_COLUMNS

    assert list(PUBLIC_COLUMNS) == CODE_COLUMNS
    frame = pd.DataFrame([good_row()])
    assert list(frame.columns) == list(PUBLIC_COLUMNS)

"""utils/vm_specs.py: the public shape of the spec columns never holds a missing value, and the price per
vCPU is the spot price over the vCPUs wherever both are known."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from utils.vm_specs import MERGED_SPEC_COLUMNS, price_per_vcpu, public_specs, with_public_specs

numbers = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(0, 1024).map(float))
texts = st.one_of(st.none(), st.sampled_from(["x64", "Arm64", "", "  "]))
rows = st.lists(st.tuples(numbers, numbers, numbers, texts, numbers), max_size=20)


@settings(deadline=None, max_examples=60)
@given(rows)
def test_public_specs_have_no_missing_values_and_whole_counts(values: list[tuple]) -> None:
    frame = pd.DataFrame(values, columns=MERGED_SPEC_COLUMNS)
    public = public_specs(frame)
    assert list(public.columns) == MERGED_SPEC_COLUMNS
    assert not public.isna().any().any()
    assert public["vCPUs"].dtype == "int64" and public["GPUs"].dtype == "int64"
    for i, (vcpus, *_rest) in enumerate(values):
        if vcpus is None or not math.isfinite(vcpus):
            assert public.loc[i, "vCPUs"] == -1
        if values[i][3] is None or not values[i][3].strip():
            assert public.loc[i, "Architecture"] == "N/A"


@settings(deadline=None, max_examples=60)
@given(st.lists(st.tuples(numbers, numbers), max_size=20))
def test_price_per_vcpu_is_spot_over_vcpus_where_both_are_known_and_missing_elsewhere(values: list[tuple]) -> None:
    spot = pd.Series([v[0] for v in values], dtype="float64")
    vcpus = pd.Series([v[1] for v in values], dtype="float64")
    ratio = price_per_vcpu(spot, vcpus)
    with np.errstate(all="ignore"):
        expected = spot / vcpus
    known = (vcpus > 0) & np.isfinite(expected)
    expected = expected[known]
    assert np.allclose(ratio[known].to_numpy(), expected.to_numpy(), equal_nan=True)
    assert ratio[~known].isna().all()


def test_a_frame_without_specs_gets_them_all_missing() -> None:
    public = pd.DataFrame({"InstanceType": ["D2s_v3"]})
    out = with_public_specs(public, pd.DataFrame({"SpotPrice": [0.02]}))
    assert out.iloc[0].tolist() == ["D2s_v3", -1, -1.0, -1, "N/A", -1.0]

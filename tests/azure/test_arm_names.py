"""The one ARM size-name split: tier recognised whatever its casing, size casing kept."""

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from utils.azure_api.arm_names import is_vm_size_name, size_key, split_arm_name, split_arm_sku_name


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Standard_D2s_v3", ("Standard", "D2s_v3")),
        ("standard_d2s_v3", ("Standard", "d2s_v3")),
        ("STANDARD_D2S_V3", ("Standard", "D2S_V3")),
        ("Basic_A1", ("Basic", "A1")),
        ("BASIC_A1", ("Basic", "A1")),
        ("Standard_NC24ads_A100_v4", ("Standard", "NC24ads_A100_v4")),
        ("A1", ("Standard", "A1")),
        ("Standard_", ("Standard", "Standard_")),
    ],
)
def test_split_recognises_the_tier_whatever_its_casing(name: str, expected: tuple[str, str]) -> None:
    assert split_arm_name(name) == expected
    tier, size = split_arm_sku_name(pd.Series([name]))
    assert (tier.iloc[0], size.iloc[0]) == expected


def test_dedicated_hosts_are_not_vm_sizes() -> None:
    names = pd.Series(["Standard_D2s_v3", "Ddsv4_Type2", "basic_A1", "Standard_", "DCsv2 Type 1"])
    assert is_vm_size_name(names).tolist() == [True, False, True, False, False]


def test_size_key_ignores_casing() -> None:
    a = size_key(pd.Series(["Standard"]), pd.Series(["D2s_v3"]))
    b = size_key(pd.Series(["Standard"]), pd.Series(["D2S_V3"]))
    assert a.iloc[0] == b.iloc[0] == "standard_d2s_v3"


@given(st.lists(st.text(alphabet="abcdSTBAnrdiv_0123456789", max_size=12), max_size=20))
def test_vectorised_split_equals_the_scalar_one(names: list[str]) -> None:
    tier, size = split_arm_sku_name(pd.Series(names, dtype=object))
    assert list(zip(tier, size, strict=True)) == [split_arm_name(n) for n in names]

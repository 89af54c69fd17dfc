"""ARM VM size names: the one place that splits ``Standard_D2s_v3`` into tier and size.

Azure names a VM size ``<Tier>_<Size>`` with tier ``Standard`` or ``Basic`` (Compute Resource SKUs
``name``, Retail Prices ``armSkuName``, Spot Placement Scores ``sku``). ARM treats these names
case-insensitively, and the APIs do not always agree on casing (a price item or an SPS answer may say
``standard_d2s_v3`` or ``STANDARD_D2S_V3``), so the tier is recognised whatever its casing and always
returned in its canonical form (``Standard``/``Basic``); the size keeps the casing it was given (the
merge picks which source's casing to publish). A name without a tier prefix is a Standard size named in
full. ``size_key`` is the casing-free key every join uses.
"""

from __future__ import annotations

import pandas as pd

ARM_TIERS = ("Standard", "Basic")
_CANONICAL_TIER = {tier.lower(): tier for tier in ARM_TIERS}


def split_arm_name(arm_name: str) -> tuple[str, str]:
    """``"standard_D2s_v3"`` -> ``("Standard", "D2s_v3")``; ``"A1"`` -> ``("Standard", "A1")``."""
    head, sep, rest = str(arm_name).partition("_")
    tier = _CANONICAL_TIER.get(head.lower())
    if sep and tier and rest:
        return tier, rest
    return "Standard", str(arm_name)


def split_arm_sku_name(arm_names: pd.Series) -> tuple[pd.Series, pd.Series]:
    """ARM size names -> (InstanceTier, InstanceType), vectorised ``split_arm_name``.

    ``Standard_NC24ads_A100_v4`` -> (``Standard``, ``NC24ads_A100_v4``); ``basic_A1`` -> (``Basic``,
    ``A1``); the index of ``arm_names`` is kept.
    """
    names = arm_names.astype(str)
    if names.empty:
        return names.copy(), names.copy()
    parts = names.str.split("_", n=1, expand=True)
    if parts.shape[1] == 1:
        parts[1] = None
    canonical = parts[0].str.lower().map(_CANONICAL_TIER)
    has_tier = canonical.notna() & parts[1].notna() & (parts[1].fillna("") != "")
    tier = canonical.where(has_tier, "Standard").astype(object)
    size = parts[1].where(has_tier, names).astype(object)
    return tier, size


def is_vm_size_name(arm_names: pd.Series) -> pd.Series:
    """True where the name is a VM size: ``Standard_...`` or ``Basic_...`` (any casing).

    Retail Prices also lists Dedicated Host meters under serviceName ``Virtual Machines`` with
    ``armSkuName`` such as ``Ddsv4_Type2`` (no tier prefix); those are not VM sizes.
    """
    head = arm_names.astype(str).str.split("_", n=1).str[0].str.lower()
    rest = arm_names.astype(str).str.split("_", n=1).str[1].astype(object)  # all-NaN when no name has "_"
    return head.isin(_CANONICAL_TIER.keys()) & rest.notna() & (rest.fillna("") != "")


def size_key(tier: pd.Series, size: pd.Series) -> pd.Series:
    """The casing-free join key of a (tier, size) pair: ``"standard_d2s_v3"``."""
    return tier.astype(str).str.lower() + "_" + size.astype(str).str.lower()

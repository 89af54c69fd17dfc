"""Compute Resource SKUs (azure.md section 4): VM family, zones and restrictions per (size, region).

``list_vm_skus`` lists ``Microsoft.Compute/skus`` once per subscription through azure-mgmt-compute and
returns one row per (sku, location) of ``resourceType == "virtualMachines"`` (the API returns every
resource type and cannot filter by type server-side, azure.md 4.1). ``vm_skus_frame`` is the pure parser.
``split_arm_sku_name`` is the one tier/size split every dataset uses (SPEC 6: keep the ARM casing).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import pandas as pd

from utils.errors import RetriableError
from utils.http_retry import RetryPolicy, azure_call_error

log = logging.getLogger(__name__)

VM_SKU_COLUMNS = ["Name", "Tier", "Size", "Family", "Region", "Zones", "LocationRestricted", "RestrictedZones"]
ARM_TIERS = ("Standard", "Basic")


def split_arm_sku_name(arm_names: pd.Series) -> tuple[pd.Series, pd.Series]:
    """ARM size names -> (InstanceTier, InstanceType), split at the first "_", casing kept.

    ``Standard_NC24ads_A100_v4`` -> (``Standard``, ``NC24ads_A100_v4``); ``Basic_A1`` -> (``Basic``,
    ``A1``). A name whose prefix is not a tier (none seen in Azure's lists) is a Standard size named in
    full, as the emulator's catalog does (``emulator.names.split_tier``).
    """
    names = arm_names.astype(str)
    parts = names.str.split("_", n=1, expand=True)
    if parts.shape[1] == 1:
        parts[1] = None
    has_tier = parts[0].isin(ARM_TIERS) & parts[1].notna()
    tier = parts[0].where(has_tier, "Standard")
    size = parts[1].where(has_tier, names)
    return tier, size


def _restrictions(sku: Any, region: str) -> tuple[bool, str]:
    """(Location-restricted for this subscription in ``region``, restricted zones "2,3") of one SKU."""
    location_restricted = False
    zones: set[str] = set()
    for restriction in getattr(sku, "restrictions", None) or []:
        info = getattr(restriction, "restriction_info", None)
        places = {p.lower() for p in (getattr(info, "locations", None) or getattr(restriction, "values", None) or [])}
        if places and region not in places:
            continue
        kind = str(getattr(restriction, "type", "") or "")
        if kind.lower() == "location":
            location_restricted = True
        elif kind.lower() == "zone":
            zones.update(str(z) for z in (getattr(info, "zones", None) or []))
    return location_restricted, ",".join(sorted(zones))


def vm_skus_frame(skus: Iterable[Any]) -> pd.DataFrame:
    """Parse ResourceSku objects (azure-mgmt-compute models, snake_case attributes) into ``VM_SKU_COLUMNS``.

    A SKU record as the API sends it (azure.md 4.2)::

        {"resourceType": "virtualMachines", "name": "Standard_D2s_v3", "tier": "Standard", "size": "D2s_v3",
         "family": "standardDSv3Family", "locations": ["eastus"],
         "locationInfo": [{"location": "eastus", "zones": ["1", "2", "3"]}],
         "restrictions": [{"type": "Zone", "values": ["eastus"],
                           "restrictionInfo": {"locations": ["eastus"], "zones": ["3"]},
                           "reasonCode": "NotAvailableForSubscription"}]}

    One row per (sku, location) of virtualMachines SKUs; ``Region`` lower-cased; ``Zones`` sorted "1,2,3"
    ("" when none); a (Name, Region) listed twice keeps its first record. Sorted by (Name, Region).
    """
    rows: list[tuple[Any, ...]] = []
    for sku in skus:
        if str(getattr(sku, "resource_type", "") or "").lower() != "virtualmachines" or not sku.name:
            continue
        infos = list(getattr(sku, "location_info", None) or [])
        by_region: dict[str, set[str]] = {}
        for info in infos:
            if info.location:
                by_region.setdefault(info.location.lower(), set()).update(str(z) for z in (info.zones or []))
        for location in getattr(sku, "locations", None) or []:
            by_region.setdefault(str(location).lower(), set())
        for region, zones in by_region.items():
            location_restricted, restricted_zones = _restrictions(sku, region)
            rows.append((sku.name, sku.tier or "", sku.size or "", sku.family or "", region,
                         ",".join(sorted(zones)), location_restricted, restricted_zones))
    frame = pd.DataFrame(rows, columns=VM_SKU_COLUMNS)
    frame["LocationRestricted"] = frame["LocationRestricted"].astype(bool)
    frame = frame.drop_duplicates(["Name", "Region"], keep="first")
    return frame.sort_values(["Name", "Region"]).reset_index(drop=True)


def list_vm_skus(
    auth: Any,
    subscription_id: str,
    *,
    timeout: float = 30.0,
    retry_policy: RetryPolicy | None = None,
) -> pd.DataFrame:
    """All virtualMachines SKUs visible to ``subscription_id``: ``VM_SKU_COLUMNS``, one row per (sku, region).

    The SDK client is built with ``retry_total=0`` so ``retry_policy`` (ours) is the only one retrying; a
    failed page restarts the whole listing (one or a few pages). An empty listing is treated as a fault
    (Azure always lists VM sizes for a subscription), so it is retried and then fails.

    Raises:
        RunFailed: the listing kept failing, or the credential was refused.
    """
    from azure.mgmt.compute import ComputeManagementClient

    policy = retry_policy or RetryPolicy()
    client = ComputeManagementClient(
        auth.credential, subscription_id, retry_total=0, connection_timeout=timeout, read_timeout=timeout,
        **auth.arm_client_kwargs(),
    )
    describe = "Resource SKUs listing"

    def attempt() -> pd.DataFrame:
        try:
            frame = vm_skus_frame(client.resource_skus.list())
        except Exception as exc:  # azure-core errors, mapped to retry / fail by the one status table
            raise azure_call_error(exc, describe) from None
        if frame.empty:
            raise RetriableError(f"{describe}: no virtualMachines SKUs returned")
        return frame

    try:
        frame = policy.call(attempt, describe=describe)
    finally:
        client.close()
    log.info("resource SKUs: %d (size, region) rows, %d sizes, %d regions",
             len(frame), frame["Name"].nunique(), frame["Region"].nunique())
    return frame

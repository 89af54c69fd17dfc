"""Compute Resource SKUs (docs/azure-facts.md section 4): VM family, zones, restrictions and specs per (size, region).

``list_vm_skus`` lists ``Microsoft.Compute/skus`` once per subscription through azure-mgmt-compute and
returns one row per (sku, location) of ``resourceType == "virtualMachines"`` (the API returns every
resource type and cannot filter by type server-side, docs/azure-facts.md 4.1). ``vm_skus_frame`` is the pure parser.
The tier/size split of a name lives in ``utils.azure_api.arm_names``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

import pandas as pd

from utils.azure_api.http import status_error
from utils.azure_api.paging import NextLinkPaging, drain
from utils.azure_api.retry import RetryPolicy
from utils.errors import RetriableError
from utils.vm_specs import CAPABILITY_TO_COLUMN, SPEC_COLUMNS, SPEC_TEXT_COLUMNS

log = logging.getLogger(__name__)

VM_SKU_COLUMNS = ["Name", "Tier", "Size", "Family", "Region", "Zones", "LocationRestricted", "RestrictedZones",
                  *SPEC_COLUMNS]
SKUS_API_VERSION = "2021-07-01"  # Resource SKUs stable spec (docs/azure-facts.md 4.1)


def _restrictions(sku: dict[str, Any], region: str) -> tuple[bool, str]:
    """(Location-restricted for this subscription in ``region``, restricted zones "2,3") of one SKU record."""
    location_restricted = False
    zones: set[str] = set()
    for restriction in sku.get("restrictions") or []:
        info = restriction.get("restrictionInfo") or {}
        places = {str(p).lower() for p in (info.get("locations") or restriction.get("values") or [])}
        if places and region not in places:
            continue
        kind = str(restriction.get("type") or "").lower()
        if kind == "location":
            location_restricted = True
        elif kind == "zone":
            zones.update(str(z) for z in (info.get("zones") or []))
    return location_restricted, ",".join(sorted(zones))


def _number(text: Any) -> float:
    """A capability value (always a string, docs/azure-facts.md 4.2) as a float; NaN when absent or not a number."""
    try:
        value = float(str(text).strip())
    except (TypeError, ValueError):
        return float("nan")
    return value if math.isfinite(value) else float("nan")


def _specs(sku: dict[str, Any]) -> tuple[float, float, float, str | None]:
    """(vCPUs, MemoryGiB, GPUs, Architecture) of one SKU record from its ``capabilities``.

    Azure lists ``GPUs`` only on GPU sizes, so a VM record without it has 0 GPUs; any other capability
    that is absent or unreadable stays missing (published as -1 / ``N/A``), never guessed.
    """
    found: dict[str, Any] = {}
    for capability in sku.get("capabilities") or []:
        if isinstance(capability, dict) and capability.get("name") in CAPABILITY_TO_COLUMN:
            found.setdefault(CAPABILITY_TO_COLUMN[capability["name"]], capability.get("value"))
    architecture = str(found.get("Architecture") or "").strip() or None
    gpus = _number(found["GPUs"]) if "GPUs" in found else 0.0
    return _number(found.get("vCPUs")), _number(found.get("MemoryGiB")), gpus, architecture


def vm_skus_frame(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Parse ResourceSku records (the API's JSON) into ``VM_SKU_COLUMNS``.

    A record as the API sends it (docs/azure-facts.md 4.2)::

        {"resourceType": "virtualMachines", "name": "Standard_D2s_v3", "tier": "Standard", "size": "D2s_v3",
         "family": "standardDSv3Family", "locations": ["eastus"],
         "locationInfo": [{"location": "eastus", "zones": ["1", "2", "3"]}],
         "capabilities": [{"name": "vCPUs", "value": "2"}, {"name": "MemoryGB", "value": "8"},
                          {"name": "CpuArchitectureType", "value": "x64"}, ...],
         "restrictions": [{"type": "Zone", "values": ["eastus"],
                           "restrictionInfo": {"locations": ["eastus"], "zones": ["3"]},
                           "reasonCode": "NotAvailableForSubscription"}]}

    One row per (sku, location) of virtualMachines SKUs; ``Region`` lower-cased; ``Zones`` sorted "1,2,3"
    ("" when none); specs from ``capabilities`` (``_specs``); a (Name, Region) listed twice keeps its first
    record. Sorted by (Name, Region).
    """
    rows: list[tuple[Any, ...]] = []
    for sku in records:
        if str(sku.get("resourceType") or "").lower() != "virtualmachines" or not sku.get("name"):
            continue
        specs = _specs(sku)
        by_region: dict[str, set[str]] = {}
        for info in sku.get("locationInfo") or []:
            if info.get("location"):
                by_region.setdefault(str(info["location"]).lower(), set()).update(
                    str(z) for z in (info.get("zones") or []))
        for location in sku.get("locations") or []:
            by_region.setdefault(str(location).lower(), set())
        for region, zones in by_region.items():
            location_restricted, restricted_zones = _restrictions(sku, region)
            rows.append((sku["name"], sku.get("tier") or "", sku.get("size") or "", sku.get("family") or "",
                         region, ",".join(sorted(zones)), location_restricted, restricted_zones, *specs))
    frame = pd.DataFrame(rows, columns=VM_SKU_COLUMNS)
    frame["LocationRestricted"] = frame["LocationRestricted"].astype(bool)
    for column in SPEC_COLUMNS:
        frame[column] = frame[column].astype("str" if column in SPEC_TEXT_COLUMNS else "float64").where(
            frame[column].notna())
    frame = frame.drop_duplicates(["Name", "Region"], keep="first")
    no_family = frame["Family"] == ""
    if no_family.any():
        # Published as missing ("N/A"), never guessed; the warning makes an API schema change visible.
        log.warning("resource SKUs: %d of %d (size, region) rows have no family (e.g. %s); InstanceFamily left "
                    "empty", int(no_family.sum()), len(frame), frame.loc[no_family, "Name"].iloc[0])  # fmt: skip
    return frame.sort_values(["Name", "Region"]).reset_index(drop=True)


def list_vm_skus(
    auth: Any,
    subscription_id: str,
    *,
    timeout: float,
    retry_policy: RetryPolicy,
) -> pd.DataFrame:
    """All virtualMachines SKUs visible to ``subscription_id``: ``VM_SKU_COLUMNS``, one row per (sku, region).

    Uses ``ComputeManagementClient`` (its pipeline: base URL, auth policy, 401 refresh) through its public
    ``send_request`` and reads the JSON directly: ``resource_skus.list()`` builds an SDK model object per
    capability, which cost ~50 s of CPU for 30k SKU records (profiled) — longer than the whole run should
    take. The SDK's own retries are off (``retry_total=0``); ``retry_policy`` (the entry point's, from
    SPOTLAKE_RETRY_*) retries each page alone: a bad page is asked again, the pages before it are kept. An
    empty listing is treated as a fault (Azure always lists VM sizes for a subscription): listed again under
    the same policy, then a failure.

    Raises:
        RunFailed: a page kept failing, the listing looped, or the credential was refused.
    """
    from azure.core.rest import HttpRequest
    from azure.mgmt.compute import ComputeManagementClient

    client = ComputeManagementClient(
        auth.credential, subscription_id, retry_total=0, connection_timeout=timeout, read_timeout=timeout,
        **auth.arm_client_kwargs(),
    )
    first_url = (f"/subscriptions/{quote(subscription_id)}/providers/Microsoft.Compute/skus"
                 f"?api-version={SKUS_API_VERSION}")

    def page(url: str | None, describe: str) -> Any:
        response = client.send_request(HttpRequest("GET", str(url)))
        error = status_error(response.status_code, response.headers, describe, response.text)
        if error is not None:
            raise error
        try:
            return response.json()
        except ValueError:
            raise RetriableError(f"{describe}: unreadable JSON body") from None

    def listing() -> pd.DataFrame:
        paging = NextLinkPaging(first_url)
        drain(paging, page, retry_policy, what="Resource SKUs")
        frame = vm_skus_frame(paging.records)
        if frame.empty:
            raise RetriableError("Resource SKUs: no virtualMachines SKUs returned")
        return frame

    try:
        frame = retry_policy.call(listing, describe="Resource SKUs listing")
    finally:
        client.close()
    log.info("resource SKUs: %d (size, region) rows, %d sizes, %d regions",
             len(frame), frame["Name"].nunique(), frame["Region"].nunique())
    return frame

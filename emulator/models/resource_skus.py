"""Compute Resource SKU records derived from a catalog (docs/azure-facts.md 4.2). Pure; built once per region.

Per public region: one ``virtualMachines`` record per offer (sorted by name; capabilities from
``emulator.specs``) followed by a few non-VM
records (disks, snapshots, availabilitySets), as the real list mixes resource types. Records are
pre-serialised JSON so pages are cheap to assemble.
"""

from __future__ import annotations

import json
import threading

import pandas as pd

from emulator import names
from emulator.catalog import Catalog
from emulator.specs import vm_spec

NON_VM_SKUS: tuple[tuple[str, str, str], ...] = (
    ("disks", "Premium_LRS", "Premium"), ("disks", "Standard_LRS", "Standard"),
    ("disks", "StandardSSD_LRS", "Standard"), ("disks", "UltraSSD_LRS", "Ultra"),
    ("snapshots", "Standard_LRS", "Standard"), ("snapshots", "Premium_LRS", "Premium"),
    ("availabilitySets", "Classic", ""), ("availabilitySets", "Aligned", ""),
)


def _vm_record(row: dict[str, object]) -> dict[str, object]:
    arm_name = str(row["InstanceType"])
    region = str(row["Region"])
    tier, size = names.split_tier(arm_name)
    parts = names.parse_size(size) or {"series": "", "constrained": ""}
    spec = vm_spec(arm_name)
    vcpus = spec.vcpus
    available = int(parts["constrained"]) if parts.get("constrained") else vcpus
    zones = [z for z in str(row["Zones"]).split(",") if z]
    restrictions: list[dict[str, object]] = []
    restricted = str(row["Restricted"])
    if restricted == "Location":
        restrictions.append({"type": "Location", "values": [region],
                             "restrictionInfo": {"locations": [region]},
                             "reasonCode": "NotAvailableForSubscription"})
    elif restricted.startswith("Zone:"):
        blocked = [z for z in restricted.removeprefix("Zone:").split(",") if z]
        restrictions.append({"type": "Zone", "values": [region],
                             "restrictionInfo": {"locations": [region], "zones": blocked},
                             "reasonCode": "NotAvailableForSubscription"})
    capabilities = [
        ("MaxResourceVolumeMB", str(vcpus * 8192)), ("OSVhdSizeMB", "1047552"), ("vCPUs", str(vcpus)),
        ("MemoryPreservingMaintenanceSupported", "True"), ("HyperVGenerations", "V1,V2"),
        ("MemoryGB", f"{spec.memory_gib:g}"), ("MaxDataDiskCount", str(min(64, max(2, vcpus * 2)))),
        ("CpuArchitectureType", spec.architecture),
        ("LowPriorityCapable", "True" if tier == "Standard" else "False"),
        ("PremiumIO", "True" if "s" in str(parts.get("features", "")) else "False"),
        ("VMDeploymentTypes", "IaaS"), ("vCPUsAvailable", str(available)), ("ACUs", "160"),
        ("vCPUsPerCore", "2" if vcpus > 1 else "1"), ("EphemeralOSDiskSupported", "True"),
        ("AcceleratedNetworkingEnabled", "True" if vcpus >= 2 else "False"), ("RdmaEnabled", "False"),
        ("MaxNetworkInterfaces", str(min(8, max(2, vcpus // 2)))),
    ]
    if spec.gpus:  # Azure lists GPUs only on GPU sizes (see emulator.specs)
        capabilities.insert(6, ("GPUs", str(spec.gpus)))
    location_info: dict[str, object] = {"location": region, "zones": zones, "zoneDetails": []}
    if zones:
        location_info["zoneDetails"] = [{"name": zones,
                                         "capabilities": [{"name": "UltraSSDAvailable", "value": "True"}]}]
    return {
        "resourceType": "virtualMachines", "name": arm_name, "tier": tier, "size": size,
        "family": str(row["Family"]), "locations": [region], "locationInfo": [location_info],
        "capabilities": [{"name": n, "value": v} for n, v in capabilities], "restrictions": restrictions,
    }


def _other_records(region: str, zones: list[str]) -> list[dict[str, object]]:
    records: list[dict[str, object]] = []
    for resource_type, name, tier in NON_VM_SKUS:
        record: dict[str, object] = {"resourceType": resource_type, "name": name,
                                     "locations": [region],
                                     "locationInfo": [{"location": region, "zones": zones, "zoneDetails": []}],
                                     "capabilities": [], "restrictions": []}
        if tier:
            record["tier"] = tier
        records.append(record)
    return records


class ResourceSkus:
    """Serialised SKU records per region, built lazily."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._lock = threading.Lock()
        self._by_region: dict[str, list[bytes]] = {}
        public = catalog.public_regions
        self.regions: list[str] = sorted(public["Region"].str.lower())
        self._zones = {r.lower(): [z for z in str(zs).split(",") if z]
                       for r, zs in zip(public["Region"], public["Zones"], strict=True)}

    def region_records(self, region: str) -> list[bytes]:
        """JSON-encoded records of one region ([] for an unknown or sovereign region)."""
        region = region.lower()
        if region not in self._zones:
            return []
        with self._lock:
            cached = self._by_region.get(region)
        if cached is not None:
            return cached
        offers = self._catalog.public_offers
        rows = offers[offers["Region"].str.lower() == region].sort_values("InstanceType")
        records = [_vm_record(row) for row in rows.to_dict("records")]
        records += _other_records(region, self._zones[region])
        encoded = [json.dumps(r, separators=(",", ":")).encode() for r in records]
        with self._lock:
            self._by_region[region] = encoded
        return encoded

    def all_records(self) -> list[bytes]:
        """Every region's records, region by region."""
        result: list[bytes] = []
        for region in self.regions:
            result.extend(self.region_records(region))
        return result


def resource_skus_of(catalog: Catalog) -> ResourceSkus:
    return catalog.derived("resource_skus", ResourceSkus)


def vm_skus_frame(records: list[dict[str, object]]) -> pd.DataFrame:
    """Helper for tests: ``Region, InstanceType, Family, Zones, Restricted`` from decoded VM records."""
    rows = []
    for record in records:
        if record["resourceType"] != "virtualMachines":
            continue
        info = record["locationInfo"][0]  # type: ignore[index]
        rows.append({"Region": info["location"], "InstanceType": record["name"], "Family": record["family"],
                     "Zones": ",".join(info["zones"])})
    return pd.DataFrame(rows)

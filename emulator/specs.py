"""VM specs the emulator serves as Resource SKUs ``capabilities`` (vCPUs, MemoryGB, GPUs, CpuArchitectureType).

Pure. Real values for real sizes where the name implies them: the vCPU count is the number in the name
(``Standard_E4-2s_v3`` has 4 vCPUs, 2 available); memory is vCPUs x the series' GiB per vCPU
(``MEMORY_PER_VCPU``), except for the GPU sizes in ``KNOWN_SPECS``, whose memory and GPU count do not
follow a ratio and are taken from Azure's size pages (learn.microsoft.com/azure/virtual-machines/sizes/gpu-
accelerated/*, observed 2026-12); a ``p`` among the size's feature letters means an Arm64 (Ampere) CPU
(``D2ps_v5``; learn.microsoft.com/azure/virtual-machines/sizes/general-purpose/dpsv5-series). Other N-series
GPU sizes get one GPU; ``NP`` (FPGA) sizes none.
"""

from __future__ import annotations

from typing import NamedTuple

from emulator import names

# Memory GiB per vCPU by series (real for D/E/F v3+ and the common series; an order of magnitude for others).
MEMORY_PER_VCPU: dict[str, float] = {"A": 1.75, "B": 4, "D": 4, "DS": 7, "DC": 4, "E": 8, "EC": 8, "F": 2,
                                     "FX": 21, "G": 14, "GS": 14, "H": 7, "HB": 3.5, "HC": 8, "HX": 11.7,
                                     "L": 8, "M": 28, "NC": 9.2, "ND": 19, "NV": 14, "NP": 16, "NG": 8,
                                     "PB": 7, "NCC": 8}  # fmt: skip
DEFAULT_MEMORY_PER_VCPU = 4.0
# size (without tier) -> (memory GiB, GPUs), from the Azure size pages named in the module docstring.
KNOWN_SPECS: dict[str, tuple[float, int]] = {
    "NC24ads_A100_v4": (220, 1), "NC48ads_A100_v4": (440, 2), "NC96ads_A100_v4": (880, 4),
    "NC4as_T4_v3": (28, 1), "NC8as_T4_v3": (56, 1), "NC16as_T4_v3": (110, 1), "NC64as_T4_v3": (440, 4),
    "NC6s_v3": (112, 1), "NC12s_v3": (224, 2), "NC24s_v3": (448, 4), "NC24rs_v3": (448, 4),
    "NC6": (56, 1), "NC12": (112, 2), "NC24": (224, 4), "NC24r": (224, 4),
    "NC40ads_H100_v5": (320, 1), "NC80adis_H100_v5": (640, 2), "NCC40ads_H100_v5": (320, 1),
    "ND96asr_v4": (900, 8), "ND96amsr_A100_v4": (1900, 8), "ND96isr_H100_v5": (1900, 8),
    "ND40rs_v2": (672, 8), "NV6": (56, 1), "NV12": (112, 2), "NV24": (224, 4),
    "NV12s_v3": (112, 1), "NV24s_v3": (224, 2), "NV48s_v3": (448, 4),
}  # fmt: skip


class VmSpec(NamedTuple):
    vcpus: int
    memory_gib: float
    gpus: int
    architecture: str  # "x64" | "Arm64"


def vm_spec(arm_name: str) -> VmSpec:
    """The specs of a size, e.g. ``Standard_D2ps_v5`` -> ``VmSpec(2, 8.0, 0, "Arm64")``."""
    _tier, size = names.split_tier(arm_name)
    base = size.removesuffix("_Promo")  # a promo size is the same machine at another price
    parts = names.parse_size(size) or {"series": "", "features": ""}
    vcpus = names.vcpus_of(arm_name)
    architecture = "Arm64" if "p" in str(parts.get("features", "")) else "x64"
    if base in KNOWN_SPECS:
        memory, gpus = KNOWN_SPECS[base]
        return VmSpec(vcpus, float(memory), gpus, architecture)
    series = str(parts.get("series", ""))
    memory = round(vcpus * MEMORY_PER_VCPU.get(series, DEFAULT_MEMORY_PER_VCPU), 2)
    gpus = 1 if series.startswith("N") and series != "NP" else 0
    return VmSpec(vcpus, memory, gpus, architecture)

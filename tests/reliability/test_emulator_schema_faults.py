"""The emulator's schema faults used by the bad-input corpus: ``extra`` adds unknown fields, ``missing`` drops
the data-carrying field of every item (emulator/README.md, Faults)."""

from __future__ import annotations

import requests

from bench.reliability.harness import tiny_catalog_text
from emulator.testing import running_emulator


def test_extra_adds_unknown_fields_and_missing_drops_the_price_fields(tmp_path) -> None:
    catalog = tmp_path / "tiny.csv"
    catalog.write_text(tiny_catalog_text())
    with running_emulator(catalog=catalog, page_size=5) as emu:
        clean = requests.get(f"{emu.url}/api/retail/prices", timeout=5).json()
        emu.set_faults("prices:extra@calls=1;prices:missing@calls=2")
        extra = requests.get(f"{emu.url}/api/retail/prices", timeout=5).json()
        missing = requests.get(f"{emu.url}/api/retail/prices", timeout=5).json()
    assert extra["emulatorUnknownField"] and all(item["emulatorUnknownNumber"] == 42 for item in extra["Items"])
    stripped = [{k: v for k, v in i.items() if not k.startswith("emulatorUnknown")} for i in extra["Items"]]
    assert stripped == clean["Items"]
    assert missing["Items"] and all("retailPrice" not in i and "unitPrice" not in i for i in missing["Items"])
    assert all("armSkuName" in item for item in missing["Items"])


def test_the_fault_spec_accepts_the_schema_kinds_on_every_api() -> None:
    from emulator.faults import parse_fault_spec

    rules = parse_fault_spec("prices:extra;resource_graph:missing@calls=1;skus:missing;sps:extra;token:missing")
    assert [rule.kind for rule in rules] == ["extra", "missing", "missing", "extra", "missing"]

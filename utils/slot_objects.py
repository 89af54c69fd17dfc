"""Objects kept one per slot under a prefix (``PREFIX/YYYY/MM/DD/HH-MM.ext``): the key of a slot, the slot of
a key, and every such object in a store. No pandas: the slot-order check lists snapshots before every run."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from utils.store import Store
from utils.timestamps import slot_date_path, slot_hhmm


@dataclass(frozen=True)
class SlotObjects:
    """``prefix`` without a trailing slash, ``suffix`` with its dot (``".parquet"``)."""

    prefix: str
    suffix: str
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pattern = re.escape(self.prefix) + r"/(\d{4})/(\d{2})/(\d{2})/(\d{2})-(\d{2})" + re.escape(self.suffix) + "$"
        object.__setattr__(self, "_pattern", re.compile(pattern))

    def key(self, slot: datetime) -> str:
        return f"{self.prefix}/{slot_date_path(slot)}/{slot_hhmm(slot)}{self.suffix}"

    def slot(self, key: str) -> datetime | None:
        """The slot a key holds; None for any other key (a temp file, a stray object)."""
        match = self._pattern.match(key)
        if match is None:
            return None
        year, month, day, hour, minute = (int(g) for g in match.groups())
        return datetime(year, month, day, hour, minute, tzinfo=UTC)

    def list(self, store: Store) -> list[tuple[datetime, str]]:
        """(slot, key) of every such object in ``store``, oldest first."""
        found = [(self.slot(key), key) for key in store.list_keys(f"{self.prefix}/")]
        return sorted((slot, key) for slot, key in found if slot is not None)

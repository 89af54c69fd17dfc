"""Slot order (docs/contract.md 8; issue 14 item 6): late and replayed slots are refused, a committed slot is never
re-collected, and a committed slot is never rewritten with other data.

A slot is *committed* once its state snapshot is stored (``merge.state``): the snapshot is written after
every other data output of the slot, and the next slot starts from it. For a run of slot S, with N the
newest committed slot and L the last slot the SPS rotation recorded (``sps_metadata.yaml``):

- S older than N or than L: a late slot (03:20 after 03:30) or a replay (a slot of yesterday run again
  today). Refused before anything is collected, exit 2 with a one-line message: merging it would compare
  the next slot with an older base, probe another slot's desired count, and overwrite the slot's raw data,
  archive, snapshot and time-series records with data Azure returned at another time.
- S == N: committed (a rerun after a failure past the snapshot, e.g. at the latest-state commit or the
  monitoring, or a Batch retry). Nothing is collected again; the merge re-publishes the slot from its
  stored raw data, which gives the same bytes and records as the first attempt (so the rerun converges),
  and ``merge_data`` refuses (exit 2) a merge of a committed slot whose result differs from its snapshot.
- otherwise (S newer than N, or S == L not yet committed): a new slot, or the rerun of a slot that failed
  before its snapshot; it runs in full and replaces what the failed attempt wrote (``utils.timeseries``).

``python3 merge/slot_order.py --timestamp SLOT`` prints ``new`` or ``committed`` (the orchestrator's
decision) and exits 2 for a late or replayed slot.
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import datetime
from pathlib import Path

if __name__ == "__main__":  # run as a script by path: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from merge.snapshot_keys import list_snapshots
from utils.constants import SPS_METADATA_KEY
from utils.entrypoint import add_timestamp_argument, run_entry
from utils.errors import CorruptObject, ObjectNotFound, UsageError
from utils.settings import Settings
from utils.store import Store, open_store
from utils.store_io import read_yaml
from utils.timestamps import parse_slot, slot_iso

log = logging.getLogger("slot_order")

NEW = "new"
COMMITTED = "committed"


def decide_slot(slot: datetime, newest_committed: datetime | None, last_rotation: str | None) -> str:
    """``NEW`` or ``COMMITTED`` for a run of ``slot``; ``UsageError`` for a late or replayed slot (pure).

    ``last_rotation`` is the rotation's ``last_timestamp`` (ISO text, ``slot_iso`` format) or None.
    """
    if newest_committed is not None and slot < newest_committed:
        raise UsageError(f"slot {slot_iso(slot)} is older than the last committed slot {slot_iso(newest_committed)}: "
                         "late and replayed slots are refused (a committed slot is never rewritten)")  # fmt: skip
    if last_rotation is not None and slot_iso(slot) < last_rotation:  # same ISO format: text order is time order
        raise UsageError(f"slot {slot_iso(slot)} is older than the last SPS run {last_rotation}: late and replayed "
                         "slots are refused")  # fmt: skip
    return COMMITTED if newest_committed == slot else NEW


def _last_rotation(store: Store) -> str | None:
    try:
        metadata = read_yaml(store, SPS_METADATA_KEY)
    except (ObjectNotFound, CorruptObject):
        return None  # no usable rotation: the SPS collector starts it afresh, nothing to order against
    last = metadata.get("last_timestamp") if isinstance(metadata, dict) else None
    return last if isinstance(last, str) else None


def slot_status(store: Store, slot: datetime) -> str:
    """``decide_slot`` with the newest committed slot and the rotation read from ``store``."""
    snapshots = list_snapshots(store)
    newest = snapshots[-1][0] if snapshots else None
    return decide_slot(slot, newest, _last_rotation(store))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="slot_order.py", description=__doc__.split("\n\n")[0])
    add_timestamp_argument(parser)
    return parser


def main(args: argparse.Namespace, settings: Settings) -> int:
    slot = parse_slot(args.timestamp)
    status = slot_status(open_store(settings), slot)
    log.info("slot %s: %s", slot_iso(slot), status)
    print(status)
    return 0


if __name__ == "__main__":
    sys.exit(run_entry("slot_order", build_parser(), main, azure_credential=False))

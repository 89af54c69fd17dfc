"""Run-slot timestamps (docs/contract.md 3): parse, floor to the 10-minute slot, format for object names."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from utils.errors import UsageError

SLOT_MINUTES = 10
MIN_YEAR = 1000  # strftime writes years below 1000 without zero padding on some platforms: object names break
# A slot may be at most this far ahead of the clock: the next slot, for a scheduler that fires a little early
# or a clock a little behind. Anything later would make every real run older than the stored state.
MAX_AHEAD = timedelta(minutes=SLOT_MINUTES)

ACCEPTED_FORMS = (
    "'2025-12-13 13:00'",
    "'2025-12-13T13:00'",
    "'2025-12-13T13:00:00'",
    "'2025-12-13T13:00:00Z'",
    "ISO 8601 with an offset, e.g. '2025-12-13T22:00:00+09:00' (converted to UTC)",
)

# Date, 'T' or one space, HH:MM, optional :SS with optional fraction, optional Z or +HH:MM / -HH:MM.
_TIMESTAMP_RE = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[T ](?P<hm>\d{2}:\d{2})(?::(?P<sec>\d{2})(?:\.\d{1,9})?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?$"
)


def _usage(text: str) -> UsageError:
    return UsageError(f"invalid timestamp {text!r}; accepted forms: {', '.join(ACCEPTED_FORMS)}")


def parse_timestamp(text: str) -> datetime:
    """Parse a run timestamp to an aware UTC datetime with seconds dropped (not floored to the slot).

    Raises:
        UsageError: the text is not one of ``ACCEPTED_FORMS`` or is not a real date/time.
    """
    match = _TIMESTAMP_RE.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise _usage(text)
    tz = match.group("tz")
    iso = f"{match.group('date')}T{match.group('hm')}:{match.group('sec') or '00'}"
    if tz and tz != "Z":
        iso += tz
    try:
        parsed = datetime.fromisoformat(iso)
    except ValueError as exc:
        raise _usage(text) from exc
    if parsed.year < MIN_YEAR:
        raise UsageError(f"invalid timestamp {text!r}: years before {MIN_YEAR} are not supported")
    try:
        parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError as exc:  # an offset that moves 0001-01-01 or 9999-12-31 out of range
        raise _usage(text) from exc
    return parsed.replace(second=0, microsecond=0)


def floor_to_slot(moment: datetime) -> datetime:
    """Floor an aware (or naive-UTC) datetime to the start of its 10-minute slot, in UTC."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.replace(minute=moment.minute - moment.minute % SLOT_MINUTES, second=0, microsecond=0)


def parse_slot(text: str | None, *, now: datetime | None = None) -> datetime:
    """The run slot for a ``--timestamp`` argument: parsed and floored; None or '' = now floored.

    Raises:
        UsageError: not an accepted form, or more than one slot ahead of the clock (``check_not_future``).
    """
    now = now or datetime.now(UTC)
    if text is None or text == "":
        return floor_to_slot(now)
    return check_not_future(floor_to_slot(parse_timestamp(text)), now)


def check_not_future(slot: datetime, now: datetime) -> datetime:
    """``slot`` itself, unless it starts more than ``MAX_AHEAD`` after the slot of ``now``.

    A future slot is refused rather than run: its state would be newer than every real run's, so the real
    runs after it would never move the public outputs again.

    Raises:
        UsageError: the slot is too far ahead; the message gives the clock.
    """
    current = floor_to_slot(now)
    if slot - current > MAX_AHEAD:
        raise UsageError(
            f"slot {slot_iso(slot)} is more than one slot ahead of the clock (now "
            f"{now.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}, slot {slot_iso(current)}); refusing it: a future slot "
            "would freeze the public outputs. Check the "
            "TIMESTAMP and the system clock"
        )
    return slot


def slot_date_path(slot: datetime) -> str:
    """``YYYY/MM/DD`` for object names."""
    return slot.strftime("%Y/%m/%d")


def slot_hhmm(slot: datetime) -> str:
    """``HH-MM`` for object names."""
    return slot.strftime("%H-%M")


def slot_iso(slot: datetime) -> str:
    """Canonical text form used in data and logs: ``2025-12-13T13:00:00Z``."""
    return slot.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def previous_slots(slot: datetime, within: timedelta) -> list[datetime]:
    """Slots strictly before ``slot`` and not older than ``within``, newest first."""
    out: list[datetime] = []
    step = timedelta(minutes=SLOT_MINUTES)
    current = slot - step
    while slot - current <= within:
        out.append(current)
        current -= step
    return out

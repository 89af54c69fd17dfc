"""Run-slot timestamps (docs/contract.md 3): accepted forms, malformed input -> exit 2 naming the accepted forms."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from utils.entrypoint import add_timestamp_argument, run_entry
from utils.errors import EXIT_USAGE, UsageError
from utils.timestamps import (
    ACCEPTED_FORMS,
    floor_to_slot,
    parse_slot,
    parse_timestamp,
    previous_slots,
    slot_date_path,
    slot_hhmm,
    slot_iso,
)

T13 = datetime(2025, 12, 13, 13, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-12-13 13:00", T13),
        ("2025-12-13T13:00", T13),
        ("2025-12-13T13:00:00", T13),
        ("2025-12-13T13:00:00Z", T13),
        ("2025-12-13T22:00:00+09:00", T13),
        ("2025-12-13T08:00-05:00", T13),
        ("2025-12-13T13:00:59", T13),  # seconds dropped
        ("2025-12-13T13:00:59.999Z", T13),
        ("  2025-12-13 13:00  ", T13),
        ("2025-12-14T00:30:00+11:30", T13),  # offset crossing the date line
    ],
)
def test_every_accepted_form_parses_to_utc_with_seconds_dropped(text: str, expected: datetime) -> None:
    parsed = parse_timestamp(text)
    assert parsed == expected
    assert parsed.tzinfo == UTC


def test_parse_slot_floors_to_the_ten_minute_slot() -> None:
    assert parse_slot("2025-12-13T13:09:59Z") == T13
    assert parse_slot("2025-12-13 13:10") == T13 + timedelta(minutes=10)
    assert parse_slot("2025-12-13T23:05:00+09:00") == datetime(2025, 12, 13, 14, 0, tzinfo=UTC)


def test_no_timestamp_means_now_floored() -> None:
    assert parse_slot(None, now=datetime(2025, 12, 13, 13, 7, 31, tzinfo=UTC)) == T13
    assert parse_slot("", now=datetime(2025, 12, 13, 13, 7, tzinfo=UTC)) == T13
    assert parse_slot(None).minute % 10 == 0


MALFORMED = [
    "",
    "2025-12-13",
    "13:00",
    "2025/12/13 13:00",
    "2025-12-13 1300",
    "2025-13-13 13:00",
    "2025-02-30 13:00",
    "2025-12-13 24:00",
    "2025-12-13 13:60",
    "2025-12-13T13:00:00+0900",
    "2025-12-13T13:00:00 UTC",
    "20251213T1300",
    "yesterday",
    "2025-12-13T13:00:00ZZ",
    "1765630800",
    "2025-12-13  13:00",
]


@pytest.mark.parametrize("text", MALFORMED)
def test_malformed_timestamps_are_usage_errors_listing_the_accepted_forms(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_timestamp(text)
    message = str(info.value)
    assert info.value.exit_code == EXIT_USAGE
    assert all(form in message for form in ACCEPTED_FORMS)


def test_object_name_parts_and_iso_form() -> None:
    slot = datetime(2025, 1, 2, 3, 40, tzinfo=UTC)
    assert (slot_date_path(slot), slot_hhmm(slot), slot_iso(slot)) == ("2025/01/02", "03-40", "2025-01-02T03:40:00Z")


def test_previous_slots_are_newest_first_within_the_window() -> None:
    slots = previous_slots(T13, timedelta(minutes=30))
    assert slots == [T13 - timedelta(minutes=m) for m in (10, 20, 30)]
    assert len(previous_slots(T13, timedelta(hours=24))) == 144


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)))
def test_floor_to_slot_is_a_slot_start_within_ten_minutes_and_idempotent(moment: datetime) -> None:
    slot = floor_to_slot(moment)
    assert slot.minute % 10 == 0 and slot.second == 0 and slot.microsecond == 0
    assert timedelta(0) <= moment - slot < timedelta(minutes=10)
    assert floor_to_slot(slot) == slot
    assert parse_slot(slot_iso(slot), now=slot) == slot


def _entry(argv: list[str], env: dict[str, str]) -> tuple[int, list[datetime]]:
    seen: list[datetime] = []
    parser = argparse.ArgumentParser(prog="tiny")
    add_timestamp_argument(parser)

    def main(args: argparse.Namespace, settings: object) -> int:
        seen.append(parse_slot(args.timestamp))
        return 0

    return run_entry("tiny", parser, main, argv=argv, env=env), seen


def test_a_bad_timestamp_at_an_entry_point_exits_2_with_the_accepted_forms(base_env, capfd) -> None:
    code, seen = _entry(["--timestamp", "2025-12-13 1300"], base_env)
    assert (code, seen) == (2, [])
    err = capfd.readouterr().err
    assert "invalid timestamp '2025-12-13 1300'" in err and ACCEPTED_FORMS[3] in err
    assert len(err.strip().splitlines()) == 1  # one event, one line


def test_a_good_timestamp_at_an_entry_point_exits_0(base_env) -> None:
    assert _entry(["--timestamp", "2025-12-13T13:04:00Z"], base_env) == (0, [T13])


def test_years_before_1000_are_bad_input() -> None:
    with pytest.raises(UsageError, match="years before 1000"):
        parse_slot("0999-12-13 13:00")
    assert parse_slot("1000-01-01 00:00", now=datetime(2025, 1, 1, tzinfo=UTC)).year == 1000


def test_a_slot_more_than_one_slot_ahead_of_the_clock_is_refused_with_the_clock() -> None:
    now = datetime(2025, 12, 13, 13, 7, 31, tzinfo=UTC)
    assert parse_slot("2025-12-13 13:10", now=now) == T13 + timedelta(minutes=10)  # the next slot: allowed
    with pytest.raises(UsageError, match=r"ahead of the clock \(now 2025-12-13T13:07:31Z, slot 2025-12-13T13:00:00Z\)"):
        parse_slot("2025-12-13 13:20", now=now)

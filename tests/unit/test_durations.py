"""Duration expressions: literals, compound units, host settings, references and precise errors."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from faultlab.assertions.durations import (
    format_bound,
    format_seconds,
    parse_duration,
    settings_in,
    split_reference,
)

SETTINGS: dict[str, float | int | str] = {
    "Misc.APDTimeout": 140,
    "NFS.HeartbeatFrequency": "12",
    "/NFS/HeartbeatMaxFailures": 10,
}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("140s", 140),
        ("5m", 300),
        ("1h30m", 5400),
        ("1h 30m", 5400),
        ("2.5s", 2.5),
        ("250ms", 0.25),
        ("140", 140),
        (" 2 min ", 120),
        ("(1m + 30s) * 2", 180),
        ("10m / 4", 150),
        ("{Misc.APDTimeout}s", 140),
        ("{Misc.APDTimeout} + 30s", 170),
        ("{misc.apdtimeout}", 140),
        ("{/Misc/APDTimeout} - 20s", 120),
        ("{NFS.HeartbeatFrequency}s * {NFS.HeartbeatMaxFailures}", 120),
        ("{Misc.APDTimeout}s + 180s", 320),
    ],
)
def test_parses(text: str, seconds: float) -> None:
    assert parse_duration(text, SETTINGS) == timedelta(seconds=seconds)


def test_numbers_and_timedeltas_pass_through() -> None:
    assert parse_duration(90) == timedelta(seconds=90)
    assert parse_duration(1.5) == timedelta(seconds=1.5)
    assert parse_duration(timedelta(minutes=2)) == timedelta(minutes=2)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("5x", r"bad token 'x' at position 1 in duration '5x': unknown unit"),
        ("14%", r"bad token '%' at position 2"),
        ("{Misc.Nope}s", r"bad token '\{Misc.Nope\}' at position 0 .*unknown host setting \(known: .*Misc.APDTimeout"),
        ("5s 3", r"bad token '3' at position 3 .*expected an operator"),
        ("1s * 2s", r"bad token '\*' .*cannot multiply two durations"),
        ("1m / 0", r"division by zero"),
        ("1m / 2s", r"can only divide by a plain number"),
        ("s", r"bad token 's' at position 0 .*a unit must follow a number"),
        ("(1m", r"bad token 'end of text' .*expected '\)'"),
        ("", r"empty duration"),
        ("10s - 1m", r"is negative"),
        ("{}s", r"empty setting name"),
    ],
)
def test_errors_name_the_bad_token(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_duration(text, SETTINGS)


def test_settings_are_required_and_must_be_numbers() -> None:
    with pytest.raises(ValueError, match="needs the host's settings"):
        parse_duration("{Misc.APDTimeout}s")
    with pytest.raises(ValueError, match="setting value 'fast' is not a number"):
        parse_duration("{Misc.APDTimeout}s", {"Misc.APDTimeout": "fast"})
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(True)


def test_references_and_setting_names() -> None:
    assert split_reference("5m of fault.healed") == ("5m", "fault.healed")
    assert split_reference("{Misc.APDTimeout}s after apd.start") == ("{Misc.APDTimeout}s", "apd.start")
    assert split_reference("140s") == ("140s", None)
    assert settings_in("{Misc.APDTimeout} + {NFS.HeartbeatFrequency}s") == [
        "Misc.APDTimeout",
        "NFS.HeartbeatFrequency",
    ]


def test_formatting() -> None:
    assert format_seconds(timedelta(seconds=12)) == "12.0 s"
    assert format_seconds(2.98) == "2.98 s"
    assert format_bound(timedelta(seconds=140)) == "140 s"
    assert format_bound(timedelta(seconds=2.5)) == "2.5 s"


@given(h=st.integers(0, 48), m=st.integers(0, 59), s=st.integers(0, 59), ms=st.integers(0, 999))
def test_compound_literals_roundtrip(h: int, m: int, s: int, ms: int) -> None:
    text = f"{h}h{m}m{s}s + {ms}ms"
    assert parse_duration(text) == timedelta(hours=h, minutes=m, seconds=s, milliseconds=ms)


# -- issue 11 items 8/9: real ranges of settings, no overflow -------------------------------------------------


def test_each_setting_counts_with_its_real_range() -> None:
    from faultlab.assertions.durations import check_duration, setting_range

    assert setting_range("/Misc/APDTimeout").low == 20 and setting_range("misc.apdtimeout").default == 140
    # 135 s on a host at the default, 15 s at the smallest APD timeout a host accepts: usable.
    assert check_duration("{Misc.APDTimeout}s - 5s") == {"Misc.APDTimeout": 140}
    # Usable only for APD timeouts above 200 s: the witness says which value made it usable.
    assert check_duration("{Misc.APDTimeout}s - 200s") == {"Misc.APDTimeout": 999999}
    with pytest.raises(
        ValueError, match=r"is negative for every value the host may have \(Misc\.APDTimeout 20\.\.999999\)"
    ):
        check_duration("2s - {Misc.APDTimeout}s")
    # NFS.HeartbeatMaxFailures is 6..10 on a real host: 5 failures can never be reached.
    with pytest.raises(ValueError, match=r"NFS\.HeartbeatMaxFailures 6\.\.10"):
        check_duration("({NFS.HeartbeatMaxFailures} - 11) * 1s")
    assert check_duration("{NFS.HeartbeatFrequency}s * {NFS.HeartbeatMaxFailures} + {Misc.APDTimeout}s + 2s") == {
        "NFS.HeartbeatFrequency": 12,
        "NFS.HeartbeatMaxFailures": 10,
        "Misc.APDTimeout": 140,
    }
    # dividing by an option that may be 0 is fine where another value of its range divides
    assert check_duration("10s / {Misc.APDHandlingEnable}") == {"Misc.APDHandlingEnable": 1}
    with pytest.raises(ValueError, match="bad token"):
        check_duration("{Misc.APDTimeout} s s")


@pytest.mark.parametrize("text", ["100000000000000000000s", "9" * 400 + "s", "{Misc.APDTimeout}s * 1000000000"])
def test_huge_durations_are_a_value_error_not_an_overflow(text: str) -> None:
    from faultlab.assertions.durations import check_duration

    with pytest.raises(ValueError, match="longer than a year") as info:
        parse_duration(text, {"Misc.APDTimeout": 140})
    assert len(str(info.value)) < 200
    with pytest.raises(ValueError, match="longer than a year"):
        check_duration(text)
    with pytest.raises(ValueError, match="longer than a year"):
        parse_duration(1e300)

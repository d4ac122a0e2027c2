"""GSM-7 / UCS-2 detection and segmentation."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kontor.messaging.rules import encoding as enc


def test_plain_text_is_gsm7_one_segment():
    assert enc.detect("Hello Åsa, 10% off @ store!") == "gsm7"
    assert enc.segments("a" * 160) == 1
    assert enc.segments("a" * 161) == 2
    assert enc.segments("a" * 306) == 2
    assert enc.segments("a" * 307) == 3


def test_extension_characters_count_two():
    text = "€" * 80
    assert enc.detect(text) == "gsm7"
    assert enc.units(text) == 160 and enc.segments(text) == 1
    assert enc.segments("€" * 80 + "a") == 2
    info = enc.analyse("{}[]")
    assert info.units == 8 and info.remaining == 152


def test_escape_pair_never_split():
    text = "a" * 152 + "€" + "b" * 10  # the € would straddle the first segment's 153rd septet
    parts = enc.split(text)
    assert parts[0] == "a" * 152 and parts[1].startswith("€")
    assert all(enc.units(p, "gsm7") <= 153 for p in parts)


def test_unicode_is_ucs2():
    assert enc.detect("Привет") == "ucs2"
    assert enc.detect("ça") == "ucs2"  # ç is not in GSM 03.38 (only Ç is)
    assert enc.segments("ж" * 70) == 1
    assert enc.segments("ж" * 71) == 2
    assert enc.segments("ж" * 134) == 2
    assert enc.segments("ж" * 135) == 3


def test_surrogate_pairs_count_two_and_never_split():
    assert enc.units("😀") == 2
    assert enc.segments("😀" * 35) == 1
    assert enc.segments("😀" * 36) == 2
    parts = enc.split("x" + "😀" * 40)  # 81 units: the 34th emoji would straddle 67
    assert parts[0] == "x" + "😀" * 33
    for part in parts:
        assert enc.units(part, "ucs2") <= 67
        part.encode("utf-16-le")  # no lone surrogate


def test_empty_text_is_one_segment():
    assert enc.split("") == [""] and enc.segments("") == 1


def test_analyse_counter():
    info = enc.analyse("Hi")
    assert (info.encoding, info.characters, info.segments, info.per_segment, info.remaining) == ("gsm7", 2, 1, 160, 158)
    assert enc.analyse("a" * 200).per_segment == 153


alphabet = st.sampled_from([*sorted(enc.GSM_BASIC | enc.GSM_EXTENSION), "ж", "😀", "ç", "中"])


@given(st.text(alphabet=alphabet, max_size=800))
def test_split_join_round_trip(text):
    parts = enc.split(text)
    assert "".join(parts) == text
    assert enc.segments(text) >= 1
    encoding = enc.detect(text)
    limit = enc.SINGLE[encoding] if len(parts) == 1 else enc.MULTI[encoding]
    assert all(enc.units(p, encoding) <= limit for p in parts)


@given(st.text(max_size=500))
def test_any_text_round_trips(text):
    assert "".join(enc.split(text)) == text
    assert enc.segments(text) >= 1

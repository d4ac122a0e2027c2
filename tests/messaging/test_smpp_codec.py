"""The SMPP connector's pure parts: GSM 03.38, parts and concatenation, addresses, receipts, options."""

from __future__ import annotations

import pytest

from kontor.messaging.connectors import smpp_codec as codec
from kontor.messaging.connectors.smpp import OptionsError, SmppOptions
from kontor.messaging.rules import encoding


def test_gsm_round_trip_with_extension_characters():
    text = "Hello {world} [x] ~ | € ^ \\ @£$¥ ÄÖÑÜ§¿äöñüà\n"
    data = codec.gsm_encode(text)
    assert data.count(b"\x1b") == 9  # one ESC per extension character: {}[]~|€^\\
    assert codec.gsm_decode(data) == text
    assert codec.gsm_encode("@") == b"\x00"


def test_gsm_refuses_what_it_cannot_encode_and_decodes_garbage_to_question_marks():
    with pytest.raises(codec.TextError):
        codec.gsm_encode("Привет")
    assert codec.gsm_decode(b"A\x80\x1b\x01B") == "A??B"


@pytest.mark.parametrize(
    ("data", "coding", "text"),
    [
        ("Hi €".encode("utf-16-be"), 8, "Hi €"),
        (b"plain", 1, "plain"),
        ("café".encode("latin-1"), 3, "café"),
        (codec.gsm_encode("Hej {x}"), 0, "Hej {x}"),
        (codec.gsm_encode("class 1"), 0xF1, "class 1"),
        ("odd".encode("utf-16-be") + b"\x00", 8, "odd"),
    ],
)
def test_decode_text_by_data_coding(data, coding, text):
    assert codec.decode_text(data, coding) == text


def test_single_part():
    [part] = codec.build_parts("Hello")
    assert (part.short_message, part.esm_class, part.data_coding, part.tlvs) == (b"Hello", 0, 0, {})


def test_three_gsm_parts_with_udh_split_where_the_charge_was_counted():
    text = "a" * 152 + "€" + "b" * 200  # the € pair does not fit part one's last septet
    assert encoding.segments(text) == 3
    parts = codec.build_parts(text, reference=0x1FF)
    assert [p.short_message[:6] for p in parts] == [bytes((5, 0, 3, 0xFF, 3, n)) for n in (1, 2, 3)]
    assert {(p.esm_class, p.data_coding) for p in parts} == {(0x40, 0)}
    bodies = [p.short_message[6:] for p in parts]
    assert [len(b) for b in bodies][:2] == [152, 153]
    assert "".join(codec.gsm_decode(b) for b in bodies) == text
    assert all(len(p.short_message) <= 159 for p in parts)


def test_ucs2_parts_and_sar():
    text = "Привет, мир! " * 8  # 104 UTF-16 units: two parts of at most 67
    parts = codec.build_parts(text, concatenation="sar", reference=0x12345)
    assert [p.tlvs for p in parts] == [
        {"sar_msg_ref_num": 0x2345, "sar_total_segments": 2, "sar_segment_seqnum": n} for n in (1, 2)
    ]
    assert {(p.esm_class, p.data_coding) for p in parts} == {(0, 8)}
    assert "".join(p.short_message.decode("utf-16-be") for p in parts) == text


def test_message_payload_is_one_submit():
    text = "x" * 400
    [part] = codec.build_parts(text, concatenation="payload")
    assert part.short_message == b"" and part.tlvs == {"message_payload": text.encode()}


def test_surrogate_pairs_stay_whole():
    text = "🙂" * 40  # 80 UTF-16 units
    parts = codec.build_parts(text)
    assert len(parts) == 2
    for p in parts:
        p.short_message[6:].decode("utf-16-be")  # each part decodes on its own


def test_udh_parsing():
    assert codec.split_udh(bytes((5, 0, 3, 7, 2, 1)) + b"hi") == (codec.Udh(7, 2, 1), b"hi")
    assert codec.split_udh(bytes((6, 8, 4, 1, 2, 3, 1)) + b"yo") == (codec.Udh(0x102, 3, 1), b"yo")
    assert codec.split_udh(bytes((9, 0, 3))) == (None, bytes((9, 0, 3)))  # longer than the body
    assert codec.split_udh(b"") == (None, b"")


@pytest.mark.parametrize(
    ("number", "ton", "npi", "expected"),
    [
        ("+46701234567", None, None, ("46701234567", 1, 1)),
        ("72000", None, None, ("72000", 0, 1)),
        ("Kontor", None, None, ("Kontor", 5, 0)),
        ("A very long sender name", None, None, ("A very long", 5, 0)),
        ("+46701234567", 2, 8, ("46701234567", 2, 8)),
    ],
)
def test_addresses(number, ton, npi, expected):
    assert codec.address(number, ton, npi) == expected


def test_standard_receipt_text():
    body = b"id:0a1b2c sub:001 dlvrd:001 submit date:2603011200 done date:2603011201 stat:DELIVRD err:000 text:Hello"
    receipt = codec.parse_receipt(body)
    assert receipt == codec.Receipt("0a1b2c", "DELIVRD", "000")
    assert receipt.status == "delivered"


@pytest.mark.parametrize(
    ("stat", "status"),
    [
        ("UNDELIV", "failed"),
        ("REJECTD", "failed"),
        ("DELETED", "failed"),
        ("UNKNOWN", "failed"),
        ("EXPIRED", "expired"),
        ("ACCEPTD", None),
        ("ENROUTE", None),
    ],
)
def test_receipt_states(stat, status):
    receipt = codec.parse_receipt(f"id:77 stat:{stat} err:034 Text:x".encode())
    assert receipt is not None and receipt.status == status
    assert receipt.error_code == f"SMPP-{stat}-034"


def test_receipt_from_tlvs_wins_over_the_text():
    receipt = codec.parse_receipt(
        b"", receipted_message_id=b"abc\x00", message_state=5, network_error_code=bytes((3, 0, 21))
    )
    assert receipt == codec.Receipt("abc", "UNDELIV", "021")


@pytest.mark.parametrize("body", [b"", b"hello there", b"id:1 stat:WHATEVER err:0", b"stat:DELIVRD err:000"])
def test_garbage_receipts_are_none(body):
    assert codec.parse_receipt(body) is None


def test_receipt_text_round_trip():
    assert codec.parse_receipt(codec.receipt_text("x9", "EXPIRED", "000")) == codec.Receipt("x9", "EXPIRED", "000")


def test_options_defaults_and_validation():
    options = SmppOptions.parse({"host": "smsc.example", "system_id": "kontor", "password": "secret"})
    assert (options.port, options.bind, options.enquire_link_seconds, options.registered_delivery) == (
        2775,
        "transceiver",
        30.0,
        True,
    )
    assert SmppOptions.parse({"host": "h", "window": "5", "reconnect_base_seconds": 0.5}).window == 5


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({}, "host"),
        ({"host": "h", "hots": 1}, "hots"),
        ({"host": "h", "password": "far too long"}, "password"),
        ({"host": "h", "bind": "both"}, "bind"),
        ({"host": "h", "port": 0}, "port"),
        ({"host": "h", "port": "x"}, "port"),
        ({"host": "h", "registered_delivery": "yes"}, "registered_delivery"),
        ({"host": "h", "concatenation": "magic"}, "concatenation"),
        ({"host": "h", "window": True}, "window"),
    ],
)
def test_bad_options_name_the_option(options, field):
    with pytest.raises(OptionsError) as caught:
        SmppOptions.parse(options)
    assert caught.value.option == field

"""Addresses, subnets and the proxy-aware client address that the IP allowlist relies on."""

from __future__ import annotations

import ipaddress

import pytest

from kontor.core.netaddr import address_allowed, client_address, parse_network

# --- parse_network --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("203.0.113.7", "203.0.113.7/32"),
        (" 203.0.113.0/24 ", "203.0.113.0/24"),
        ("10.0.0.0/8", "10.0.0.0/8"),
        ("2001:db8::1", "2001:db8::1/128"),
        ("2001:db8::/32", "2001:db8::/32"),
        ("2001:DB8:0:0::/64", "2001:db8::/64"),
        ("0.0.0.0/0", "0.0.0.0/0"),
    ],
)
def test_parse_network_accepts_v4_v6_and_cidr(text, expected):
    assert str(parse_network(text)) == expected


@pytest.mark.parametrize(
    ("text", "suggestion"),
    [
        ("203.0.113.7/24", "203.0.113.0/24"),
        ("10.1.2.3/8", "10.0.0.0/8"),
        ("2001:db8::1/32", "2001:db8::/32"),
    ],
)
def test_parse_network_refuses_host_bits_and_suggests_the_subnet(text, suggestion):
    with pytest.raises(ValueError, match="host bits") as exc:
        parse_network(text)
    assert suggestion in str(exc.value)


@pytest.mark.parametrize(
    "text",
    ["", "   ", "garbage", "256.1.1.1", "10.0.0.0/33", "2001:db8::/129", "10.0.0.0/-1", "1.2.3", "::g", "/24"],
)
def test_parse_network_refuses_garbage(text):
    with pytest.raises(ValueError):
        parse_network(text)


# --- address_allowed ------------------------------------------------------------------------------


def test_empty_allowlist_allows_everything_including_unknown():
    assert address_allowed("203.0.113.7", [])
    assert address_allowed("2001:db8::1", [])
    assert address_allowed(None, [])


@pytest.mark.parametrize(
    ("address", "networks", "allowed"),
    [
        ("203.0.113.7", ["203.0.113.7/32"], True),
        ("203.0.113.8", ["203.0.113.7/32"], False),
        ("203.0.113.200", ["203.0.113.0/24"], True),
        ("203.0.114.1", ["203.0.113.0/24"], False),
        ("10.9.8.7", ["192.0.2.0/24", "10.0.0.0/8"], True),
        ("2001:db8::1", ["2001:db8::1/128"], True),
        ("2001:db8::2", ["2001:db8::1/128"], False),
        ("2001:db8:ffff::9", ["2001:db8::/32"], True),
        ("2001:db9::1", ["2001:db8::/32"], False),
        # v4 and v6 never match each other by accident
        ("203.0.113.7", ["2001:db8::/32"], False),
        ("2001:db8::1", ["0.0.0.0/0"], False),
        (None, ["203.0.113.0/24"], False),
    ],
)
def test_address_allowed(address, networks, allowed):
    assert address_allowed(address, networks) is allowed


def test_v4_mapped_v6_address_matches_the_v4_subnet():
    # A dual-stack socket reports an IPv4 client as ::ffff:a.b.c.d; it is the same client.
    assert address_allowed("::ffff:203.0.113.7", ["203.0.113.0/24"])
    assert not address_allowed("::ffff:198.51.100.7", ["203.0.113.0/24"])


# --- client_address -------------------------------------------------------------------------------


def meta(remote: str, xff: str | None = None) -> dict[str, str]:
    out = {"REMOTE_ADDR": remote}
    if xff is not None:
        out["HTTP_X_FORWARDED_FOR"] = xff
    return out


def test_remote_addr_is_used_when_no_proxy_is_trusted(settings):
    settings.KONTOR_TRUSTED_PROXIES = []
    assert client_address(meta("198.51.100.9")) == "198.51.100.9"
    assert client_address(meta("2001:db8::9")) == "2001:db8::9"
    # Without trusted proxies the header is noise anyone can send.
    assert client_address(meta("198.51.100.9", "203.0.113.7")) == "198.51.100.9"


def test_v4_mapped_remote_addr_is_normalised(settings):
    settings.KONTOR_TRUSTED_PROXIES = []
    assert client_address(meta("::ffff:198.51.100.9")) == "198.51.100.9"


def test_missing_or_garbage_remote_addr_gives_none(settings):
    settings.KONTOR_TRUSTED_PROXIES = []
    assert client_address({}) is None
    assert client_address(meta("not-an-ip")) is None


def test_forwarded_for_from_an_untrusted_peer_is_ignored(settings):
    settings.KONTOR_TRUSTED_PROXIES = ["10.0.0.1"]
    assert client_address(meta("198.51.100.9", "203.0.113.7")) == "198.51.100.9"


def test_forwarded_for_from_a_trusted_proxy_is_honoured(settings):
    settings.KONTOR_TRUSTED_PROXIES = ["10.0.0.1"]
    assert client_address(meta("10.0.0.1", "203.0.113.7")) == "203.0.113.7"
    assert client_address(meta("10.0.0.1", " 2001:db8::7 ")) == "2001:db8::7"


def test_trusted_proxies_may_be_given_as_a_subnet(settings):
    settings.KONTOR_TRUSTED_PROXIES = ["10.0.0.0/24", "fd00::/8"]
    assert client_address(meta("10.0.0.77", "203.0.113.7")) == "203.0.113.7"
    assert client_address(meta("fd00::1", "203.0.113.8")) == "203.0.113.8"
    assert client_address(meta("10.0.1.77", "203.0.113.7")) == "10.0.1.77"


def test_a_forged_left_most_entry_is_ignored(settings):
    # The client sent "X-Forwarded-For: 192.0.2.1" itself; the proxy appended the real address.
    settings.KONTOR_TRUSTED_PROXIES = ["10.0.0.1"]
    assert client_address(meta("10.0.0.1", "192.0.2.1, 203.0.113.7")) == "203.0.113.7"
    assert client_address(meta("10.0.0.1", "192.0.2.1,192.0.2.2,203.0.113.7")) == "203.0.113.7"


def test_a_chain_of_two_trusted_proxies_is_walked_back_to_the_client(settings):
    settings.KONTOR_TRUSTED_PROXIES = ["10.0.0.1", "10.0.0.2"]
    # client -> 10.0.0.1 (edge) -> 10.0.0.2 (internal) -> Kontor
    assert client_address(meta("10.0.0.2", "203.0.113.7, 10.0.0.1")) == "203.0.113.7"
    assert client_address(meta("10.0.0.2", "192.0.2.1, 203.0.113.7, 10.0.0.1")) == "203.0.113.7"


def test_only_trusted_hops_fall_back_to_the_peer(settings):
    settings.KONTOR_TRUSTED_PROXIES = ["10.0.0.1", "10.0.0.2"]
    assert client_address(meta("10.0.0.2", "10.0.0.1")) == "10.0.0.2"
    assert client_address(meta("10.0.0.2")) == "10.0.0.2"
    assert client_address(meta("10.0.0.2", "")) == "10.0.0.2"


def test_a_garbage_hop_does_not_let_an_earlier_entry_through(settings):
    settings.KONTOR_TRUSTED_PROXIES = ["10.0.0.1"]
    result = client_address(meta("10.0.0.1", "192.0.2.1, not-an-ip"))
    assert result != "192.0.2.1"
    assert result is None or ipaddress.ip_address(result)

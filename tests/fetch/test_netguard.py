import ipaddress
import socket

import pytest

from newsflow.transforms.fetch.netguard import (
    BlockedAddress,
    check_hostname,
    is_allowed_address,
    is_public_address,
    parse_networks,
    resolve_checked,
)


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "100.127.255.254",
    "0.0.0.0", "224.0.0.1", "240.0.0.1", "255.255.255.255", "192.0.2.1", "198.18.0.1",
    "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
    "2002:7f00:1::1", "64:ff9b::a9fe:a9fe", "2001:db8::1",
])
def test_non_public_addresses_are_blocked(address):
    assert is_public_address(ipaddress.ip_address(address)) is False
    assert is_allowed_address(ipaddress.ip_address(address)) is False


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700::6810:84e5", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address):
    assert is_public_address(ipaddress.ip_address(address)) is True


def test_allow_list():
    allowed = parse_networks(["127.0.0.1/32", "fd00::/8"])
    assert is_allowed_address(ipaddress.ip_address("127.0.0.1"), allowed) is True
    assert is_allowed_address(ipaddress.ip_address("::ffff:127.0.0.1"), allowed) is True
    assert is_allowed_address(ipaddress.ip_address("fd00::5"), allowed) is True
    assert is_allowed_address(ipaddress.ip_address("127.0.0.2"), allowed) is False
    with pytest.raises(ValueError):
        parse_networks(["not-a-cidr"])


@pytest.mark.parametrize("host", ["metadata.google.internal", "METADATA.GOOGLE.INTERNAL.", "169.254.169.254",
                                  "[::1]", "[::ffff:169.254.169.254]"])
def test_blocked_by_name_without_lookup(host):
    with pytest.raises(BlockedAddress):
        check_hostname(host)


def fake_resolver(*addresses):
    def resolve(host, port, family, kind):
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, kind, 6, "", (a, port)) for a in addresses]
    return resolve


def test_resolve_checked_returns_only_allowed_addresses():
    assert resolve_checked("news.example", 80, resolve=fake_resolver("93.184.215.14")) == ["93.184.215.14"]
    assert resolve_checked("news.example", 80, resolve=fake_resolver("10.0.0.1", "93.184.215.14")) == ["93.184.215.14"]
    with pytest.raises(BlockedAddress, match=r"10\.0\.0\.1"):
        resolve_checked("rebind.example", 80, resolve=fake_resolver("10.0.0.1", "fe80::1%eth0"))
    allowed = parse_networks(["10.0.0.0/8"])
    assert resolve_checked("intranet.example", 80, allowed, resolve=fake_resolver("10.0.0.1")) == ["10.0.0.1"]


def test_metadata_name_is_never_resolved():
    def must_not_resolve(*args):
        raise AssertionError("resolved")
    with pytest.raises(BlockedAddress, match="metadata"):
        resolve_checked("metadata.google.internal", 80, resolve=must_not_resolve)


def test_real_resolution_of_localhost_is_blocked():
    with pytest.raises(BlockedAddress):
        resolve_checked("localhost", 80)

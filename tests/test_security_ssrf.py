"""SSRF: an IPv6 address that embeds an IPv4 address (NAT64, 6to4, IPv4-compatible, mapped,
translated, Teredo, ISATAP) is judged by the address it embeds — when a webhook is saved,
and again at every delivery, whatever DNS answers."""

from __future__ import annotations

import socket

import pytest

from improvement import services
from improvement import webhooks as signing
from improvement.exceptions import InvalidInput

LOOPBACK_IN_DISGUISE = [
    "64:ff9b::7f00:1",  # NAT64, well-known prefix → 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 → 169.254.169.254 (cloud metadata)
    "64:ff9b:1::7f00:1",  # NAT64, local-use prefix
    "2002:7f00:1::",  # 6to4 → 127.0.0.1
    "2002:a00:1::1",  # 6to4 → 10.0.0.1
    "::127.0.0.1",  # IPv4-compatible
    "::10.0.0.1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:0:7f00:1",  # IPv4-translated (SIIT)
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
    "2606:4700::5efe:7f00:1",  # ISATAP interface id → 127.0.0.1
]


@pytest.mark.parametrize("address", LOOPBACK_IN_DISGUISE)
def test_an_embedded_private_address_is_refused_as_a_literal(address):
    problem = signing.url_problem(f"http://[{address}]:8080/hook", allow_private=False)
    assert "private" in problem


@pytest.mark.parametrize("address", LOOPBACK_IN_DISGUISE)
def test_an_embedded_private_address_is_refused_when_dns_answers_it(monkeypatch, address):
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda *a, **k: [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, 443, 0, 0))],
    )
    assert "private" in signing.url_problem("https://hooks.example.org/x", allow_private=False)


@pytest.mark.parametrize("address", ["64:ff9b::808:808", "2002:808:808::1", "2606:4700::1111"])
def test_an_address_embedding_a_public_one_is_accepted(address):
    assert signing.url_problem(f"https://[{address}]/hook", allow_private=False) == ""


@pytest.mark.parametrize("address", ["64:ff9b::7f00:1", "2002:7f00:1::", "::127.0.0.1"])
def test_a_delivery_is_not_sent_to_an_embedded_private_address(monkeypatch, address):
    # the URL was fine when saved; DNS now answers an address that embeds loopback
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda *a, **k: [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, 80, 0, 0))],
    )
    connected = []
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: connected.append(a))

    result = signing.send("http://hooks.example.org/x", b"{}", {}, timeout=1.0, allow_private=False)

    assert not result.succeeded
    assert "Refused" in result.error
    assert connected == []


@pytest.mark.parametrize("address", ["64:ff9b::7f00:1", "2002:7f00:1::", "::127.0.0.1"])
def test_the_webhook_service_refuses_the_variants(csi, address):
    with pytest.raises(InvalidInput):
        services.webhook_create(actor=csi, name="Sneaky", url=f"http://[{address}]/hook")

"""Outbound webhooks, the parts without the ORM: secrets, Standard Webhooks signatures,
URL safety and one HTTP POST.

Signatures follow https://www.standardwebhooks.com/: the headers `webhook-id`,
`webhook-timestamp` (Unix seconds) and `webhook-signature` = "v1," + base64 of
HMAC-SHA256(key, f"{id}.{timestamp}.{body}"), where the secret is "whsec_" + base64(key).

URL safety: a webhook may not point at a private, loopback, link-local or otherwise
non-public address unless the operator allows it (CIR_WEBHOOK_ALLOW_PRIVATE). The check
runs when a webhook is saved and again at every delivery, and the request is sent to the
very address that was checked (no second DNS lookup a rebinding attacker could answer
differently); redirects are not followed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import http.client
import ipaddress
import secrets
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.db import models

SECRET_PREFIX = "whsec_"
#: how much of a receiver's answer is kept with the attempt
EXCERPT_CHARS = 500
#: receivers are told who is calling
USER_AGENT = "CIR-Webhooks/1.0"


class DeliveryStatus(models.TextChoices):
    """Where one event's delivery to one webhook stands."""

    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed (gave up)"


# --- secrets and signatures ------------------------------------------------------------


def generate_secret() -> str:
    """A new signing secret: "whsec_" + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def secret_fingerprint(secret: str) -> str:
    """A short, one-way mark of a secret (the start of its SHA-256): what the audit history
    keeps to show a rotation, without the secret."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()[:12]


def secret_key(secret: str) -> bytes:
    """The HMAC key of a "whsec_…" secret (a secret without the prefix is used as is)."""
    if secret.startswith(SECRET_PREFIX):
        try:
            return base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
        except (binascii.Error, ValueError):
            pass
    return secret.encode("utf-8")


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for one message."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signed_headers(secret: str, msg_id: str, body: bytes, *, timestamp: int | None = None):
    """The three Standard Webhooks headers (plus the content type) for `body`."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


def verify(secret: str, headers, body: bytes, *, tolerance: int = 300) -> bool:
    """Whether `headers` (a case-insensitive mapping) carry a valid, fresh signature.

    What a receiver does; CIR uses it in its tests and the example receiver mirrors it.
    """
    try:
        msg_id = headers["webhook-id"]
        timestamp = int(headers["webhook-timestamp"])
        signatures = headers["webhook-signature"].split()
    except (KeyError, TypeError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    expected = sign(secret, msg_id, timestamp, body)
    return any(hmac.compare_digest(expected, s) for s in signatures)


# --- URL safety ------------------------------------------------------------------------


#: IPv6 prefixes whose last 32 bits are an IPv4 address a gateway or the host itself goes to:
#: NAT64 (RFC 6052 well-known, RFC 8215 local-use) and IPv4-compatible addresses (::a.b.c.d)
_NAT64_PREFIXES = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
#: IPv4-translated addresses (SIIT, RFC 2765): ::ffff:0:a.b.c.d
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address stands for: mapped (::ffff:a.b.c.d), IPv4-
    compatible (::a.b.c.d), translated (::ffff:0:a.b.c.d), NAT64 (64:ff9b::a.b.c.d), 6to4
    (2002:AABB:CCDD::), Teredo (server and client) and ISATAP (…:0:5efe:a.b.c.d)."""
    found = []
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip in _IPV4_COMPATIBLE or ip in _IPV4_TRANSLATED or any(ip in n for n in _NAT64_PREFIXES):
        found.append(low32)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    if (int(ip) >> 32) & 0xFDFFFFFF == 0x00005EFE:  # ISATAP interface identifier
        found.append(low32)
    return found


def _is_public(address: str) -> bool:
    """Whether `address` (an answer of DNS or a literal) is a public one; an IPv6 address
    that embeds an IPv4 address is judged by that IPv4 address too."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    candidates = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if ip in _IPV4_COMPATIBLE:
            candidates = embedded  # ::a.b.c.d is that IPv4 address (:: and ::1 included)
        else:
            candidates.extend(embedded)
        if any(ip in net for net in _NAT64_PREFIXES[1:]):
            return False  # local-use NAT64 reaches a private network by definition
    return all(c.is_global and not c.is_multicast for c in candidates)


def resolve(url: str) -> tuple[str, int, list[str]]:
    """(host, port, addresses) of an http(s) URL; raises ValueError with a user message."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError("Enter a valid URL.") from exc
    if parts.scheme not in ("http", "https"):
        raise ValueError("The URL must start with http:// or https://.")
    host = parts.hostname
    if not host:
        raise ValueError("The URL has no host.")
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise ValueError(f"The host '{host}' could not be resolved.") from exc
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise ValueError(f"The host '{host}' could not be resolved.")
    return host, port, addresses


def url_problem(url: str, *, allow_private: bool) -> str:
    """Why a webhook may not use `url` ("" when it may).

    With allow_private the host is not even resolved (operators running local receivers).
    """
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return "Enter a valid URL."
    if parts.scheme not in ("http", "https"):
        return "The URL must start with http:// or https://."
    if not parts.hostname:
        return "The URL has no host."
    if allow_private:
        return ""
    try:
        _, _, addresses = resolve(url)
    except ValueError as exc:
        return str(exc)
    private = [a for a in addresses if not _is_public(a)]
    if private:
        return (
            f"The URL points at a private, loopback or reserved address ({private[0]}); "
            "webhooks must use public addresses."
        )
    return ""


# --- one POST --------------------------------------------------------------------------


@dataclass(frozen=True)
class SendResult:
    """What one delivery attempt saw."""

    status_code: int | None
    latency_ms: int
    response_excerpt: str
    error: str

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def send(url: str, body: bytes, headers: dict, *, timeout: float, allow_private: bool):
    """POST `body` to `url` once, connecting to an address that passed the safety check.

    Never raises for network trouble: the failure is in the result's `error`.
    """
    started = time.monotonic()

    def result(status=None, excerpt="", error="") -> SendResult:
        latency = int((time.monotonic() - started) * 1000)
        return SendResult(status, latency, excerpt[:EXCERPT_CHARS], error[:EXCERPT_CHARS])

    try:
        host, port, addresses = resolve(url)
    except ValueError as exc:
        return result(error=str(exc))
    usable = addresses if allow_private else [a for a in addresses if _is_public(a)]
    if not usable:
        return result(error=f"Refused: {host} resolves to a private or reserved address.")
    parts = urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    connection_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_class(host, port, timeout=timeout)
    pinned = usable[0]

    # connect to the checked address; TLS still verifies the certificate for `host`
    def create_connection(address, timeout=None, source_address=None):
        return socket.create_connection((pinned, address[1]), timeout, source_address)

    connection._create_connection = create_connection
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        raw = response.read(4 * EXCERPT_CHARS)
        return result(response.status, raw.decode("utf-8", errors="replace"))
    except (OSError, ValueError, http.client.HTTPException) as exc:  # ValueError: InvalidURL
        return result(error=f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    finally:
        connection.close()

"""Where webhooks may be sent: no server-side request forgery through a webhook URL (docs/security.md §4).

A partner chooses its webhook's URL and the server POSTs to it from inside the county's network, so a
webhook may point only at public addresses: never at loopback (127.0.0.0/8, ::1), private (10/8,
172.16/12, 192.168/16, fc00::/7, 100.64/10 …), link-local (169.254/16, where cloud metadata answers;
fe80::/10), unspecified (0.0.0.0, ::), multicast or reserved addresses. An IPv4 address written inside
IPv6 (``::ffff:10.0.0.1``, 6to4) is judged as that IPv4 address. The exceptions:

* ``SAFETYNET_WEBHOOK_ALLOW_HOSTS``, comma-separated: a hostname lets URLs with exactly that host through,
  whatever it resolves to; an address or a CIDR (``10.20.0.0/16``) lets the addresses within it through.
* Outside production, loopback addresses (and ``localhost``) are allowed too, for local receivers;
  everything else is refused as in production.

A target is checked twice. At registration, without DNS: an address written in the URL, in any form the
resolver reads (``127.1``, ``2130706433``, ``[::ffff:7f00:1]``), and ``localhost`` names, so the partner
gets a clear user error at once; other names are not looked up then. At every delivery the host is
resolved and every address it resolves to must be allowed; the request then goes to one of those very
addresses, so a name that changes its answer between the check and the connection (DNS rebinding) gets
nowhere.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from safetynet.settings import Settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_HOSTNAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*")
_KINDS = (  # the first that applies names why an address is refused
    ("is_unspecified", "an unspecified address"),
    ("is_loopback", "a loopback address"),
    ("is_link_local", "a link-local address"),
    ("is_multicast", "a multicast address"),
    ("is_reserved", "a reserved address"),
    ("is_private", "a private address"),
)


class TargetRefused(Exception):
    """A webhook's host resolves to an address it may not be sent to; the message says which and why."""


@dataclass(frozen=True)
class AllowList:
    """``SAFETYNET_WEBHOOK_ALLOW_HOSTS``: hostnames, and networks (a lone address is a network of one)."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AllowList:
        """Raises ValueError naming an entry that is neither a hostname, an address nor a CIDR."""
        hosts: set[str] = set()
        networks: list[Network] = []
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                host = _normal(entry)
                if "/" in entry or not _HOSTNAME.fullmatch(host):
                    raise ValueError(f"'{entry}' is not a hostname, an IP address or a CIDR") from None
                hosts.add(host)
        return cls(frozenset(hosts), tuple(networks))


@dataclass(frozen=True)
class WebhookTargets:
    """The rule for one server: public addresses, the allow-list, and loopback outside production."""

    allow: AllowList
    production: bool

    @classmethod
    def of(cls, settings: Settings) -> WebhookTargets:
        return cls(AllowList.parse(settings.webhook_allow_hosts), settings.production)

    def refusal(self, host: str) -> str | None:
        """At registration, without DNS: why ``host`` as written cannot receive webhooks, or None."""
        host = _normal(host)
        if host in self.allow.hosts:
            return None
        for address in _written_addresses(host):
            if (why := self._why_not(address)) is not None:
                return f"must point at a public address, not {host} ({why})"
        return None

    def resolve(self, host: str, port: int) -> list[str]:
        """At delivery: the addresses ``host`` resolves to, to connect to; raises TargetRefused when any of
        them is not allowed, and OSError when the name does not resolve."""
        host = _normal(host)
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
        if host not in self.allow.hosts:
            for text in addresses:
                if (why := self._why_not(ipaddress.ip_address(text))) is not None:
                    raise TargetRefused(f"{host} resolves to {text}, {why}")
        return addresses

    def _why_not(self, address: Address) -> str | None:
        address = _plain(address)
        if any(address in network for network in self.allow.networks):
            return None
        if address.is_loopback and not self.production:
            return None
        for attribute, kind in _KINDS:
            if getattr(address, attribute):
                return kind
        return None if address.is_global else "not a public address"


def _normal(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def _plain(address: Address) -> Address:
    """The IPv4 address an IPv6 one carries (IPv4-mapped or 6to4), else the address itself."""
    if isinstance(address, ipaddress.IPv6Address):
        return address.ipv4_mapped or address.sixtofour or address
    return address


def _written_addresses(host: str) -> list[Address]:
    """The addresses ``host`` names without a DNS query: an address in any form, or a localhost name."""
    if host == "localhost" or host.endswith(".localhost"):  # RFC 6761: always loopback
        return [ipaddress.ip_address("127.0.0.1")]
    try:
        found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError):
        return []
    return [ipaddress.ip_address(str(info[4][0])) for info in found]

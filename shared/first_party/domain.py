"""The registrable domain (eTLD+1) of a host, from the Public Suffix List.

``publicsuffixlist`` ships its own snapshot of the list, so nothing is downloaded at run
time. Loading it costs ~0.3 s, paid once per process on first use; answers are cached per
host (bounded: the Host header comes from the internet).
"""

from __future__ import annotations

import ipaddress
import re
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from publicsuffixlist import PublicSuffixList

_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")
_MAX_CACHED = 256
_cache: dict[str, str | None] = {}
_psl: PublicSuffixList | None = None
_lock = threading.Lock()


def _list() -> PublicSuffixList:
    global _psl
    if _psl is None:
        with _lock:
            if _psl is None:
                from publicsuffixlist import PublicSuffixList

                _psl = PublicSuffixList()
    return _psl


def hostname(host_header: str) -> str:
    """``Example.COM:8443`` → ``example.com``; ``""`` for anything that is not a host name or IP."""
    host = host_header.strip().lower()
    if host.startswith("["):  # [v6]:port
        end = host.find("]")
        return host[1:end] if end > 0 else ""
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    host = host.rstrip(".")
    if _HOST.fullmatch(host):
        return host
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return ""


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def registrable_domain(host: str) -> str | None:
    """eTLD+1 of ``host`` (``metrics.shop.example.co.uk`` → ``example.co.uk``); ``None`` for
    IP addresses, single-label hosts (``localhost``) and hosts that are themselves a public
    suffix (e.g. ``<service>.run.app``): a cookie for those can only be host-only."""
    if host in _cache:
        return _cache[host]
    domain = None if not host or "." not in host or is_ip(host) else _list().privatesuffix(host)
    if len(_cache) < _MAX_CACHED:
        _cache[host] = domain
    return domain


def subdomain_index(domain: str | None) -> int:
    """Meta's ``subdomainIndex``: labels of the cookie's eTLD+1 minus one (``example.com`` → 1,
    ``example.co.uk`` → 2); 0 without a registrable domain (IP or host-only)."""
    if not domain:
        return 0
    return min(domain.count("."), 9)

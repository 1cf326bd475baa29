"""Local-only HTTP endpoints: refuse requests a web page could have made.

On a developer's machine every local server is reachable from any page the browser opens:
directly (a cross-site ``POST`` to ``http://127.0.0.1:<port>/``, which carries an ``Origin``
header) or through DNS rebinding (``evil.example`` re-pointed at 127.0.0.1, which carries
``Host: evil.example``). Local vendor functions (push bodies from the Pub/Sub emulator) and
the inspector (raw hits) answer only requests addressed to a loopback name and not sent by
a page. Enabled with ``REQUIRE_LOOPBACK=1`` (``make run`` and the test stack set it); in the
cloud, Cloud Run's IAM (the push subscription's OIDC token) guards vendor functions instead.
"""

from __future__ import annotations

from collections.abc import Mapping

from shared import settings

LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def enabled() -> bool:
    """Whether ``REQUIRE_LOOPBACK`` is set (read per call: cheap, and tests can flip it)."""
    return settings.env_bool("REQUIRE_LOOPBACK")


def host_name(host: str) -> str:
    """``127.0.0.1:8080`` → ``127.0.0.1``; ``[::1]:80`` → ``[::1]``; lower-cased."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def refusal(headers: Mapping[str, str]) -> str | None:
    """Why a request must be refused (``None`` when it may proceed). ``headers`` may be any
    case-insensitive mapping or one with lower-case names."""
    host = headers.get("host") or headers.get("Host") or ""
    if host_name(host) not in LOOPBACK_NAMES:
        return "host_not_loopback"
    if headers.get("origin") or headers.get("Origin"):
        return "browser_origin"
    return None

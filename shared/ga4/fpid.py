"""The server-managed client id cookie (FPID-style).

JavaScript cookies such as ``_ga`` are capped at 7 days by some browsers; an HttpOnly cookie
set by the site's own server lives up to 400 days. Collect keeps the client id there: the
first hit's ``cid`` becomes the cookie's id (so nothing changes for that visitor), and later
hits take the id from the cookie, keeping the page's own ``cid`` as ``x-ga-js_client_id``.
The cookie is neither read nor set for events whose analytics_storage is denied.
"""

from __future__ import annotations

import re
import secrets
import time
from typing import Any

COOKIE_NAME = "FPID"
PREFIX = "FPID2.2."
MAX_AGE_DAYS_LIMIT = 400  # browsers cap cookie lifetimes at 400 days

_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


def id_from_cookie(value: str | None) -> str | None:
    """The client id inside an FPID cookie value, or ``None`` if it is absent or malformed."""
    if not value or not value.startswith(PREFIX):
        return None
    client_id = value[len(PREFIX):]
    return client_id if _ID.fullmatch(client_id) else None


def valid_id(client_id: str | None) -> bool:
    """Whether ``client_id`` can be stored in the cookie as it is."""
    return bool(client_id) and _ID.fullmatch(client_id) is not None


def new_client_id() -> str:
    """A GA-style ``<random>.<unix seconds>`` id for hits that carry none."""
    return f"{secrets.randbelow(2_000_000_000) + 100_000_000}.{int(time.time())}"


def apply(event: dict[str, Any], server_id: str | None) -> str | None:
    """Give ``event`` the server-managed client id; return the id the cookie should hold.

    Returns ``None`` (no cookie) when analytics_storage is denied or the id is not cookie-safe.
    """
    if event["consent"].get("analytics_storage") == "denied":
        return None
    page_id = event.get("client_id")
    if server_id:
        if page_id and page_id != server_id:
            event["x-ga-js_client_id"] = page_id
        event["client_id"] = server_id
        return server_id
    if not page_id:
        event["client_id"] = page_id = new_client_id()
    return page_id if _ID.fullmatch(page_id) else None


def set_cookie_header(client_id: str, domain: str, max_age_days: int) -> str:
    """The ``Set-Cookie`` value: HttpOnly, Secure, SameSite=Lax, first-party."""
    parts = [f"{COOKIE_NAME}={PREFIX}{client_id}", f"Max-Age={max_age_days * 86400}", "Path=/"]
    if domain:
        parts.append(f"Domain={domain}")
    parts += ["Secure", "HttpOnly", "SameSite=Lax"]
    return "; ".join(parts)

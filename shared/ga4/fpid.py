"""The server-managed client id cookie (FPID-style): its name, value format and id checks.

JavaScript cookies such as ``_ga`` are capped at 7 days by some browsers; an HttpOnly cookie
set by the site's own server lives up to 400 days. Which id the cookie holds (precedence
FPID > ``_ga`` > the hit's ``cid`` > new), consent, and the ``Set-Cookie`` header are
decided in ``shared.first_party.cookies``.
"""

from __future__ import annotations

import re
import secrets
import time

COOKIE_NAME = "FPID"
PREFIX = "FPID2.2."

_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


def id_from_cookie(value: str | None) -> str | None:
    """The client id inside an FPID cookie value, or ``None`` if it is absent or malformed."""
    if not value or not value.startswith(PREFIX):
        return None
    client_id = value[len(PREFIX) :]
    return client_id if _ID.fullmatch(client_id) else None


def valid_id(client_id: str | None) -> bool:
    """Whether ``client_id`` can be stored in the cookie as it is."""
    return client_id is not None and _ID.fullmatch(client_id) is not None


def new_client_id() -> str:
    """A GA-style ``<random>.<unix seconds>`` id for hits that carry none."""
    return f"{secrets.randbelow(2_000_000_000) + 100_000_000}.{int(time.time())}"

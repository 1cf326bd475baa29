"""Personal data out of log lines: what a dry run or an error may log in the cloud.

A vendor without credentials runs dry and logs the request it would have sent; in the cloud
that line lands in Cloud Logging and the delivery ledger (BigQuery, 90 days). The request
holds the visitor's email, phone and name (plain in the webhook's body, hashed in Meta's and
TikTok's) and URLs whose query strings carry identifiers (``?email=…``, click ids). This
module keeps the shape of the request for debugging and removes those values: every value
under a personal-data key, every e-mail address anywhere, every URL's query and fragment.
"""

from __future__ import annotations

import re
from typing import Any

REDACTED = "[REDACTED]"
# Keys whose values are personal data in the normalized event or in a vendor's API
# (Meta CAPI user_data, TikTok Events API user, GA4 MP user_data, gtag ep.user_data.*).
PERSONAL_KEYS = frozenset(
    {
        # normalized event / GA4
        "user_data",
        "user_id",
        "email",
        "email_address",
        "sha256_email_address",
        "phone",
        "phone_number",
        "sha256_phone_number",
        "first_name",
        "last_name",
        "sha256_first_name",
        "sha256_last_name",
        "name",
        "street",
        "sha256_street",
        "address",
        "postal_code",
        "date_of_birth",
        "birthday",
        "gender",
        # Meta Conversions API user_data
        "em",
        "ph",
        "fn",
        "ln",
        "db",
        "ge",
        "ct",
        "st",
        "zp",
        "external_id",
        # TikTok Events API user
        "ip",
        "client_ip_address",
        "ip_override",
        # Mixpanel people properties, Segment traits
        "$email",
        "$phone",
        "$name",
        "$first_name",
        "$last_name",
    }
)
# "name" is personal in an address or a user block but the event's name elsewhere (MP
# events, TikTok): these containers keep a plain "name".
_NAME_IS_NOT_PERSONAL_IN = frozenset(
    {"events", "data", "properties", "contents", "items", "params", "products", "campaign", "event_properties"}
)
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
_URL = re.compile(r"^(https?://[^?#\s]*)[?#]")


def redact_text(text: str) -> str:
    """E-mail addresses replaced; a URL keeps its scheme, host and path but not its query, and
    a bare query string (``?a=b``) is replaced whole."""
    if "@" in text:
        text = _EMAIL.sub(REDACTED, text)
    if ("?" in text or "#" in text) and text[:4] == "http":
        match = _URL.match(text)
        if match:
            return f"{match.group(1)}?{REDACTED}"
    if text[:1] == "?" and len(text) > 1:
        return f"?{REDACTED}"  # a bare query string (Segment's context.page.search)
    return text


def redact(value: Any, parent: str = "") -> Any:
    """A copy of ``value`` (JSON-like) without personal data; structure and other values kept."""
    if isinstance(value, dict):
        redacted: dict[str, Any] = {}
        for key, child in value.items():
            lowered = str(key).lower()
            personal = lowered in PERSONAL_KEYS and not (lowered == "name" and parent in _NAME_IS_NOT_PERSONAL_IN)
            if personal and child not in (None, "", [], {}):
                redacted[key] = REDACTED
            else:
                redacted[key] = redact(child, lowered)
        return redacted
    if isinstance(value, list):
        return [redact(child, parent) for child in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


# A query made only of these keys identifies the vendor's endpoint, not the visitor (GA4 MP's
# ``?measurement_id=…&api_secret=``), and is kept; secrets were already redacted by the runtime.
_ENDPOINT_QUERY_KEYS = frozenset({"measurement_id", "firebase_app_id", "api_secret", "test", "strict"})


def _redact_url(url: str) -> str:
    if "?" in url and "#" not in url and "@" not in url:
        query = url.split("?", 1)[1]
        keys = {pair.split("=", 1)[0] for pair in query.split("&") if pair}
        if keys and keys <= _ENDPOINT_QUERY_KEYS:
            return url
    return redact_text(url)


def redact_request(logged: dict[str, Any]) -> dict[str, Any]:
    """A logged vendor request ``{method, url, headers, json}`` without personal data: the
    URL keeps its endpoint, and its query only when that names the endpoint alone (GA4's
    /g/collect carries the whole hit in its query)."""
    copy = dict(logged)
    if isinstance(copy.get("url"), str):
        copy["url"] = _redact_url(copy["url"])
    if "json" in copy:
        copy["json"] = redact(copy["json"])
    return copy

"""SHA-256 of personal data, normalized to each vendor's rules first.

Every vendor hashes lowercase hex SHA-256, but normalizes differently (phone with or without
``+``, gmail dots, name punctuation): see docs/vendors/*.md. A value that already looks like
a SHA-256 hex digest passes through unchanged, as in every vendor's own template, so a site
that hashes in the browser is not hashed twice.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

_SHA256_HEX = re.compile(r"^[a-fA-F0-9]{64}$")
_NON_DIGITS = re.compile(r"\D+")
_WHITESPACE = re.compile(r"\s+")


def is_sha256(value: str) -> bool:
    return bool(_SHA256_HEX.match(value))


def sha256_hex(value: str) -> str:
    """Lowercase hex SHA-256 of the UTF-8 value; an existing digest passes through unchanged."""
    if is_sha256(value):
        return value
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _strip_symbols(value: str, keep_spaces: bool = False) -> str:
    """Letters and digits only (any script, so ``valéry`` stays ``valéry``)."""
    kept = []
    for char in value:
        if char.isalnum() or (keep_spaces and char == " "):
            kept.append(char)
    return "".join(kept)


def _letters_only(value: str) -> str:
    return "".join(c for c in value if c.isalpha() or c == " ")


# -- shared normalizers ----------------------------------------------------------------------


def email_basic(value: str) -> str:
    """Trim and lowercase (Meta, TikTok)."""
    return value.strip().lower()


def email_google(value: str) -> str:
    """Trim, lowercase, and drop the dots of a gmail/googlemail local part (Google's rule)."""
    email = email_basic(value)
    local, at, domain = email.partition("@")
    if at and domain in ("gmail.com", "googlemail.com"):
        local = local.replace(".", "")
    return f"{local}{at}{domain}"


def phone_digits(value: str) -> str:
    """Digits with the country code, no ``+`` and no leading zeros (Meta's rule)."""
    return _NON_DIGITS.sub("", value).lstrip("0")


def phone_e164(value: str) -> str:
    """``+`` and the digits (Google, TikTok): ``+1 (650) 555-1212`` → ``+16505551212``.

    A number without a country code cannot be completed here; its digits are kept, with the
    ``+``, leading zeros dropped (an international ``00`` prefix means ``+``).
    """
    digits = _NON_DIGITS.sub("", value).lstrip("0")
    return f"+{digits}" if digits else ""


def name_meta(value: str) -> str:
    """Lowercase, no punctuation or spaces, UTF-8 letters kept (``Valéry`` → ``valéry``)."""
    return _strip_symbols(unicodedata.normalize("NFC", value.strip().lower()))


def name_google(value: str) -> str:
    """Digits and symbols removed, lowercase, trimmed (Google's user-provided data)."""
    return _WHITESPACE.sub(" ", _letters_only(value.lower())).strip()


def name_tiktok(value: str) -> str:
    """Lowercase, spaces removed."""
    return _WHITESPACE.sub("", value.strip().lower())


def city_meta(value: str) -> str:
    """Lowercase, no spaces or punctuation (``Menlo Park`` → ``menlopark``)."""
    return _strip_symbols(value.strip().lower())


def state_meta(value: str) -> str:
    return _strip_symbols(value.strip().lower())


def zip_meta(value: str, country: str = "") -> str:
    """Lowercase, no spaces or dashes; US zips keep their first five digits."""
    zip_code = _strip_symbols(value.strip().lower())
    if country.strip().lower() == "us" and zip_code[:5].isdigit():
        zip_code = zip_code[:5]
    return zip_code


def country_code(value: str) -> str:
    """ISO 3166-1 alpha-2, lowercase (Meta hashes it; Google and TikTok send it plain)."""
    return _strip_symbols(value.strip().lower())[:2]


def gender_meta(value: str) -> str:
    """``f`` or ``m`` from ``female``/``Male``/``F``; anything else is not sent."""
    first = value.strip().lower()[:1]
    return first if first in ("f", "m") else ""


def date_of_birth_meta(value: str) -> str:
    """``YYYYMMDD`` from ``1990-01-31`` style input; anything else is not sent."""
    digits = _NON_DIGITS.sub("", value)
    return digits if len(digits) == 8 else ""


def trimmed(value: str) -> str:
    return value.strip()


def hashed(value: object, normalize) -> str:
    """Normalize then hash one value; empty when nothing remains (never hash an empty string).

    An already hashed value is passed through before normalizing, so it is not altered.
    """
    if value is None or isinstance(value, (dict, list)):
        return ""
    text = str(value)
    if is_sha256(text.strip()):
        return text.strip()
    normalized = normalize(text)
    return sha256_hex(normalized) if normalized else ""

"""SHA-256 of personal data, normalized to each vendor's rules first.

Every vendor hashes lowercase hex SHA-256, but normalizes differently (phone with or without
``+``, gmail dots, name punctuation): see docs/vendors/*.md. A value that already looks like
a SHA-256 hex digest passes through unchanged, as in every vendor's own template, so a site
that hashes in the browser is not hashed twice.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import re
import unicodedata
from collections.abc import Callable

# phonenumbers and pycountry are imported where used: together they cost about a second of
# import and first lookup, which only events carrying a phone or an address should pay, not
# every cold start of every vendor function.

_SHA256_HEX = re.compile(r"^[a-fA-F0-9]{64}$")
_NON_DIGITS = re.compile(r"\D+")
_WHITESPACE = re.compile(r"\s+")


def is_sha256(value: str) -> bool:
    """Whether ``value`` is already a SHA-256 digest (64 hex digits, either case)."""
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


def _phone_e164(value: str, country: str = "") -> str:
    """E.164 (``+33612345678``) of a phone number; a national number gets the calling code
    of ``country`` (the address's country, any form :func:`country_alpha2` understands).

    Without a country, or when the library cannot make a possible number of it, the digits
    are kept as written (an international ``00`` prefix read as ``+``), as before.
    """
    text = value.strip()
    digits = _NON_DIGITS.sub("", text)
    if not digits:
        return ""
    region = country_alpha2(country).upper() or None
    if text.startswith("00"):
        text = "+" + text[2:]
    if text.startswith("+") or region:
        import phonenumbers

        try:
            parsed = phonenumbers.parse(text, None if text.startswith("+") else region)
        except phonenumbers.NumberParseException:
            parsed = None
        if parsed is not None and phonenumbers.is_possible_number(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return "+" + digits.lstrip("0")


def phone_digits(value: str, country: str = "") -> str:
    """Digits with the country calling code, no ``+`` and no leading zeros (Meta's rule).

    ``06 12 34 56 78`` with country ``FR`` → ``33612345678``.
    """
    return _phone_e164(value, country).lstrip("+")


def phone_e164(value: str, country: str = "") -> str:
    """``+`` and the digits (Google, TikTok): ``+1 (650) 555-1212`` → ``+16505551212``.

    A national number is completed with the calling code of ``country`` when one is known;
    otherwise its digits are kept, with the ``+``, leading zeros dropped.
    """
    return _phone_e164(value, country)


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


def _folded(value: str) -> str:
    """Lowercase letters and digits without accents, for comparing names (``Québec`` → ``quebec``)."""
    decomposed = unicodedata.normalize("NFKD", value.lower())
    return "".join(c for c in decomposed if c.isalnum() and not unicodedata.combining(c))


@functools.cache
def _subdivision_codes(alpha2: str) -> dict[str, str]:
    """Folded subdivision name → its code after the dash (``california`` → ``ca``)."""
    import pycountry

    codes: dict[str, str] = {}
    # pycountry leaves Subdivisions.get unannotated (it returns a list for country_code=).
    for subdivision in pycountry.subdivisions.get(country_code=alpha2) or ():  # type: ignore[no-untyped-call]
        codes[_folded(subdivision.name)] = subdivision.code.split("-", 1)[1].lower()
    return codes


def state_meta(value: str, country: str = "") -> str:
    """US states as their 2-letter code (``California`` → ``ca``, Meta's ANSI rule); other
    regions lowercase without punctuation or spaces. A value without a country is read as a
    US state when it is the name of one."""
    state = _strip_symbols(value.strip().lower())
    alpha2 = country_alpha2(country)
    if alpha2 in ("", "us") and len(state) != 2:
        code = _subdivision_codes("US").get(_folded(value))
        if code:
            return code
    return state


_US_ZIP_PLUS_4 = re.compile(r"^\s*(\d{5})-?\d{4}\s*$")


def zip_meta(value: str, country: str = "") -> str:
    """Lowercase, no spaces or dashes; US zips keep their first five digits, also without a
    country when the value has the US ``NNNNN-NNNN`` shape."""
    zip_code = _strip_symbols(value.strip().lower())
    alpha2 = country_alpha2(country)
    if alpha2 == "us" and zip_code[:5].isdigit():
        return zip_code[:5]
    if not alpha2:
        match = _US_ZIP_PLUS_4.match(value)
        if match and "-" in value:
            return match.group(1)
    return zip_code


# ISO 3166-1 reserves "UK" for the United Kingdom (exceptional reservation); people write it.
_EXCEPTIONALLY_RESERVED = {"uk": "gb"}


@functools.lru_cache(maxsize=4096)
def country_alpha2(value: str) -> str:
    """ISO 3166-1 alpha-2, lowercase, from an alpha-2 or alpha-3 code or an English name
    (``United States``, ``USA``, ``us`` → ``us``); ``""`` when it is none of them."""
    text = " ".join(value.split())
    if not text:
        return ""
    if text.lower() in _EXCEPTIONALLY_RESERVED:
        return _EXCEPTIONALLY_RESERVED[text.lower()]
    import pycountry

    try:
        return pycountry.countries.lookup(text).alpha_2.lower()
    except LookupError:
        return ""


def country_code(value: str) -> str:
    """ISO 3166-1 alpha-2, lowercase (Meta hashes it; Google and TikTok send it plain).

    A value that is no country is not sent (``Germany`` never becomes ``ge``, Georgia).
    """
    return country_alpha2(value)


def gender_meta(value: str) -> str:
    """``f`` or ``m`` from ``female``/``Male``/``F``; anything else is not sent."""
    first = value.strip().lower()[:1]
    return first if first in ("f", "m") else ""


# The written forms of a date of birth, in the order they are tried (Meta wants YYYYMMDD).
# Slashes are read the US way (MM/DD/YYYY) unless the first number cannot be a month;
# dots and dashes with the year last are read the European way (DD.MM.YYYY).
_DATE_FORMS = (
    (re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$"), ("y", "m", "d")),
    (re.compile(r"^(\d{4})(\d{2})(\d{2})$"), ("y", "m", "d")),
    (re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$"), ("m", "d", "y")),
    (re.compile(r"^(\d{1,2})[.-](\d{1,2})[.-](\d{4})$"), ("d", "m", "y")),
)


def date_of_birth_meta(value: str) -> str:
    """``YYYYMMDD`` from ``1990-01-31``, ``01/31/1990``, ``31.01.1990``, ``19900131``
    (an ISO timestamp's date part too); anything that is no real date is not sent."""
    text = value.strip().split("T", 1)[0].strip()
    for pattern, order in _DATE_FORMS:
        match = pattern.match(text)
        if not match:
            continue
        parts = dict(zip(order, (int(g) for g in match.groups()), strict=True))
        if order[0] == "m" and parts["m"] > 12 >= parts["d"]:
            parts["m"], parts["d"] = parts["d"], parts["m"]
        try:
            return datetime.date(parts["y"], parts["m"], parts["d"]).strftime("%Y%m%d")
        except ValueError:
            return ""
    return ""


def trimmed(value: str) -> str:
    """The normalizer for ids hashed as they are: surrounding whitespace removed only."""
    return value.strip()


def hashed(value: object, normalize: Callable[[str], str]) -> str:
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

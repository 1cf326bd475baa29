"""User-Agent Client Hints from gtag's ``ua*`` parameters and the ``sec-ch-ua*`` headers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

# gtag parameter → client_hints key (strings).
HINT_STRINGS = {"uaa": "architecture", "uab": "bitness", "uam": "model", "uap": "platform", "uapv": "platform_version"}
HINT_FLAGS = {"uamb": "mobile", "uaw": "wow64"}
HINT_PARAMS = frozenset((*HINT_STRINGS, *HINT_FLAGS, "uafvl"))

_BRAND = re.compile(r'"([^"]*)"\s*;\s*v\s*=\s*"([^"]*)"')


def full_version_list(raw: str) -> list[dict[str, str]]:
    """``Chromium;136.0|Google%20Chrome;136.0`` → ``[{brand, version}, …]``.

    gtag encodes each brand once more inside the (already decoded) value, so ``%20`` and
    ``%2F`` are decoded here a second time.
    """
    brands = []
    for entry in raw.split("|"):
        if not entry:
            continue
        brand, _, version = entry.rpartition(";")
        if not _:
            brand, version = entry, ""
        brands.append({"brand": unquote(brand), "version": unquote(version)})
    return brands


def brands_header(raw: str) -> list[dict[str, str]]:
    """``"Chromium";v="136", "Google Chrome";v="136"`` (sec-ch-ua) → ``[{brand, version}, …]``."""
    return [{"brand": brand, "version": version} for brand, version in _BRAND.findall(raw)]


def client_hints(params: Mapping[str, str], headers: Mapping[str, str]) -> dict[str, Any] | None:
    """The ``client_hints`` object, or ``None`` when neither the hit nor the headers carry any."""
    hints: dict[str, Any] = {}
    for key, name in HINT_STRINGS.items():
        if key in params:
            hints[name] = params[key]
    for key, name in HINT_FLAGS.items():
        if key in params:
            hints[name] = params[key] == "1"
    if "uafvl" in params:
        hints["full_version_list"] = full_version_list(params["uafvl"])
    header = headers.get("sec-ch-ua")
    if header:
        hints["brands"] = brands_header(header)
    if "mobile" not in hints and "sec-ch-ua-mobile" in headers:
        hints["mobile"] = headers["sec-ch-ua-mobile"].strip() == "?1"
    if "platform" not in hints and "sec-ch-ua-platform" in headers:
        hints["platform"] = headers["sec-ch-ua-platform"].strip().strip('"')
    return hints or None

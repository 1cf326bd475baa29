"""What one vendor receives: a per-vendor copy of the event after its privacy controls.

Called once per delivery in ``Vendor.plan`` between the gates and the mapping; pure (a function
of the event and the vendor's settings), so golden tests see exactly what a vendor would get.
The published event, and every other vendor's copy, are never changed.

Per vendor, in this order:

1. the bot gate: events with ``bot: true`` are skipped with reason ``bot`` for ad vendors and
   sent flagged (``bot``, ``bot_reason``) to analytics vendors, unless ``<VENDOR>_BOTS`` says
   ``skip`` or ``send``; a human's event reaches vendors without the two keys;
2. the transformation rules in the vendor's scope (:mod:`shared.privacy.rules`, fixed order);
3. ``<VENDOR>_IP_TRUNCATION`` (``standard`` / ``strict``) on ``ip_override``;
4. ``<VENDOR>_CLIENT_ID_MODE=anonymize``: ``client_id`` → HMAC-SHA256 with the secret
   ``<VENDOR>_CLIENT_ID_HMAC_KEY``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.privacy import anonymize
from shared.privacy import rules as rule_set

# Who receives bot events by default (config: <VENDOR>_BOTS = skip | send).
DEFAULT_BOTS = {"ad": "skip", "analytics": "send"}
BOT_REASON = "bot"
BOT_KEYS = ("bot", "bot_reason")
IP_KEY = "ip_override"
CLIENT_ID_HMAC_KEY = "client_id"


class PrivacyMisconfigured(Exception):
    """The vendor's privacy settings cannot be honoured (e.g. anonymization without a key):
    the event must not leave as is, so the delivery is retried, not sent raw."""


def bot_gate(event: Mapping[str, Any], kind: str, settings: Mapping[str, str]) -> str:
    """``"bot"`` when this vendor must not receive the (bot) event, else ``""``."""
    if event.get("bot") is not True:
        return ""
    mode = (settings.get("BOTS") or "").strip().lower() or DEFAULT_BOTS.get(kind, "send")
    return BOT_REASON if mode == "skip" else ""


def apply_rules(event: dict[str, Any], rules: tuple[rule_set.Rule, ...]) -> dict[str, Any]:
    """``rules`` (already in order and in scope) applied to a copy of ``event``."""
    out = dict(event)
    for rule in rules:
        if not rule.matches(event):
            continue
        if rule.type == "allow":
            out = {key: value for key, value in out.items() if key in rule.keys}
        elif rule.type == "exclude":
            for key in rule.keys:
                out.pop(key, None)
        else:
            if rule.source:
                if rule.source not in out:
                    continue
                value = out[rule.source]
            else:
                value = rule.value
            if rule.transform and value is not None:
                value = anonymize.VALUE_TRANSFORMS[rule.transform](str(value))
            if value in (None, ""):
                out.pop(rule.key, None)
            else:
                out[rule.key] = value
    return out


def for_vendor(event: dict[str, Any], vendor: str, kind: str, settings: Mapping[str, str]) -> dict[str, Any]:
    """The event as ``vendor`` may receive it; ``event`` itself when nothing applies.

    Raises :class:`PrivacyMisconfigured` when anonymization is on without its key."""
    if "bot" in event and event.get("bot") is not True:
        # Nothing to flag: a human's event reaches vendors exactly as before bot detection.
        # A C-level copy and two pops: same keys in the same order as a filtering comprehension,
        # at a fraction of its cost (every delivered event passes here).
        event = dict(event)
        for key in BOT_KEYS:
            event.pop(key, None)
    rules = rule_set.for_vendor(rule_set.decode(settings.get("TRANSFORMATIONS") or ""), vendor, kind)
    ip_mode = (settings.get("IP_TRUNCATION") or "").strip().lower()
    anonymize_cid = (settings.get("CLIENT_ID_MODE") or "").strip().lower() == "anonymize"
    if not rules and ip_mode in ("", "none") and not anonymize_cid:
        return event
    out = apply_rules(event, rules) if rules else dict(event)
    if ip_mode not in ("", "none") and out.get(IP_KEY):
        truncated = anonymize.truncate_ip(str(out[IP_KEY]), ip_mode)
        if truncated is None:
            out.pop(IP_KEY)
        else:
            out[IP_KEY] = truncated
    if anonymize_cid and out.get(CLIENT_ID_HMAC_KEY):
        key = settings.get("CLIENT_ID_HMAC_KEY") or ""
        if not key:
            raise PrivacyMisconfigured(
                f"{vendor.upper()}_CLIENT_ID_MODE=anonymize needs the secret {vendor.upper()}_CLIENT_ID_HMAC_KEY"
            )
        out[CLIENT_ID_HMAC_KEY] = anonymize.anonymize_client_id(key.encode("utf-8"), str(out[CLIENT_ID_HMAC_KEY]))
    return out


def check_vendor(vendor: str, kind: str, required_keys: tuple[str, ...], settings: Mapping[str, str]) -> None:
    """Load-time validation of one vendor's privacy configuration (settings and rules)."""
    try:
        rule_set.check_settings(vendor, settings)
        rule_set.check_vendor(rule_set.decode(settings.get("TRANSFORMATIONS") or ""), vendor, kind, required_keys)
    except rule_set.RuleError as exc:
        raise rule_set.RuleError(
            f"vendor {vendor!r}: {exc}" if not str(exc).startswith("vendor ") else str(exc)
        ) from None

"""Transformation rules: what an owner lets leave, per vendor (docs/privacy.md).

A rule (``transformations:`` in ``config/vendors.yaml``)::

    - name: meta-truncated-referrer  # unique; names the rule in errors and logs
      type: augment                  # allow | exclude | augment
      scope: [meta]                  # all (default) | vendor kinds (ad, analytics) | vendor names
      priority: 10                   # integer, default 0
      conditions:                    # optional, every one must hold (default: always)
        event_name: [purchase]       # a name or a list
        consent: {ad_user_data: denied}   # purpose → state(s): granted | denied | not_set
        equals: {page_hostname: shop.example}  # key → value(s)
      keys: [ip_override]            # allow / exclude: top-level keys of the normalized event
      key: page_referrer             # augment: the key set
      from: page_referrer            # augment: copy another key ... or
      value: "constant"              # ... set a constant
      transform: url_origin          # augment, optional: url_origin, url_without_query, ip_standard, ip_strict

**Order** (fixed): type — ``augment``, then ``allow``, then ``exclude`` — then ``priority``
(higher first), then ``name``. Augmenting first lets allow/exclude see the added keys;
excluding last means an excluded key never leaves, whatever another rule added. Conditions
are read on the event as published, never on another rule's output.

Rules act on a per-vendor copy of the event (:mod:`shared.privacy.transform`). Validation at
load (``make run``, ``make deploy``, function start-up) refuses an invalid rule and a rule that
removes a key a vendor's mapping requires (``Vendor.required_keys``), naming vendor, rule and key.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shared.privacy.anonymize import IP_SETTING_VALUES, VALUE_TRANSFORMS

TYPES = ("augment", "allow", "exclude")
KINDS = ("ad", "analytics")
PURPOSES = ("ad_storage", "analytics_storage", "ad_user_data", "ad_personalization")
CONSENT_STATES = ("granted", "denied", "not_set")
# Per-vendor privacy settings (``<VENDOR>_<SETTING>``, like every vendor setting) and their values.
SETTING_VALUES = {
    "IP_TRUNCATION": IP_SETTING_VALUES,
    "CLIENT_ID_MODE": ("", "keep", "anonymize"),
    "BOTS": ("", "skip", "send"),
}
SETTING_NAMES = (*SETTING_VALUES, "TRANSFORMATIONS")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_KEY = re.compile(r"^[^\s]{1,100}$")
_RULE_KEYS = {"name", "type", "scope", "priority", "conditions", "keys", "key", "from", "value", "transform"}


class RuleError(ValueError):
    """An invalid transformation or privacy setting; the message names rule, vendor and key."""


@dataclass(frozen=True)
class Rule:
    name: str
    type: str
    scope: tuple[str, ...] = ("all",)
    priority: int = 0
    event_names: tuple[str, ...] = ()
    consent: tuple[tuple[str, tuple[str, ...]], ...] = ()
    equals: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    keys: tuple[str, ...] = ()
    key: str = ""
    source: str = ""
    value: Any = None
    transform: str = ""

    def order(self) -> tuple[int, int, str]:
        return (TYPES.index(self.type), -self.priority, self.name)

    def applies_to(self, vendor: str, kind: str) -> bool:
        return "all" in self.scope or vendor in self.scope or kind in self.scope

    def matches(self, event: Mapping[str, Any]) -> bool:
        """Whether the rule's conditions hold for this event (no conditions: always)."""
        if self.event_names and str(event.get("event_name") or "") not in self.event_names:
            return False
        if self.consent:
            raw = event.get("consent")
            consent: dict[str, Any] = raw if isinstance(raw, dict) else {}
            for purpose, states in self.consent:
                state = str(consent.get(purpose) or "not_set")
                if (state if state in CONSENT_STATES else "not_set") not in states:
                    return False
        return all(event.get(key) in values for key, values in self.equals)

    def removes(self, key: str) -> bool:
        """Whether this rule can remove ``key`` (allow without it, exclude with it)."""
        if self.type == "allow":
            return key not in self.keys
        return self.type == "exclude" and key in self.keys


def _as_tuple(value: Any) -> tuple[Any, ...]:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


def _strings(value: Any, where: str, pattern: re.Pattern[str] = _KEY) -> tuple[str, ...]:
    items = _as_tuple(value)
    for item in items:
        if not isinstance(item, str) or not pattern.match(item):
            raise RuleError(f"{where}: {item!r} is not a valid name")
    return items


def parse_rule(raw: Any, vendors: Iterable[str] | None = None) -> Rule:
    """One rule from its YAML/JSON form; :class:`RuleError` says what is wrong."""
    if not isinstance(raw, dict):
        raise RuleError(f"transformations: every rule is a mapping, got {raw!r:.60}")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise RuleError(f"transformations: rule {name!r}: 'name' must be 1-64 letters, digits, '_', '-' or '.'")
    where = f"transformations: rule {name!r}"
    unknown = sorted(set(raw) - _RULE_KEYS)
    if unknown:
        raise RuleError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(_RULE_KEYS)}")
    kind = raw.get("type")
    if kind not in TYPES:
        raise RuleError(f"{where}: 'type' must be one of {list(TYPES)}, got {kind!r}")
    scope = _strings(raw.get("scope", "all"), f"{where}: scope", _NAME) or ("all",)
    if vendors is not None:
        known = {*vendors, *KINDS, "all"}
        for target in scope:
            if target not in known:
                raise RuleError(
                    f"{where}: scope {target!r} is neither 'all', a vendor kind {list(KINDS)} "
                    f"nor a configured vendor {sorted(vendors)}"
                )
    priority = raw.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise RuleError(f"{where}: 'priority' must be an integer, got {priority!r}")
    conditions = raw.get("conditions") or {}
    if not isinstance(conditions, dict) or set(conditions) - {"event_name", "consent", "equals"}:
        raise RuleError(f"{where}: 'conditions' may hold event_name, consent and equals, got {conditions!r:.80}")
    consent_raw = conditions.get("consent") or {}
    equals_raw = conditions.get("equals") or {}
    if not isinstance(consent_raw, dict) or not isinstance(equals_raw, dict):
        raise RuleError(f"{where}: conditions.consent and conditions.equals are mappings")
    consent = []
    for purpose, states in consent_raw.items():
        if purpose not in PURPOSES:
            raise RuleError(
                f"{where}: conditions.consent: unknown purpose {purpose!r}; expected one of {list(PURPOSES)}"
            )
        states = _as_tuple(states)
        if not states or any(state not in CONSENT_STATES for state in states):
            raise RuleError(f"{where}: conditions.consent.{purpose}: states must be in {list(CONSENT_STATES)}")
        consent.append((purpose, states))
    equals = []
    for key, values in equals_raw.items():
        _strings(key, f"{where}: conditions.equals")
        equals.append((key, _as_tuple(values)))
    rule = dict(
        name=name,
        type=kind,
        scope=scope,
        priority=priority,
        event_names=_strings(conditions.get("event_name"), f"{where}: conditions.event_name"),
        consent=tuple(consent),
        equals=tuple(equals),
    )
    if kind in ("allow", "exclude"):
        keys = _strings(raw.get("keys"), f"{where}: keys")
        if not keys:
            raise RuleError(f"{where}: an {kind} rule needs 'keys', a list of event keys")
        for extra in ("key", "from", "value", "transform"):
            if extra in raw:
                raise RuleError(f"{where}: {extra!r} belongs to augment rules, not {kind}")
        return Rule(**rule, keys=keys)
    key = raw.get("key")
    _strings(key, f"{where}: key")
    if not key:
        raise RuleError(f"{where}: an augment rule needs 'key', the event key it sets")
    if ("from" in raw) == ("value" in raw):
        raise RuleError(f"{where}: an augment rule needs exactly one of 'from' (another key) or 'value' (a constant)")
    source = raw.get("from") or ""
    if "from" in raw:
        _strings(source, f"{where}: from")
    transform = raw.get("transform") or ""
    if transform and transform not in VALUE_TRANSFORMS:
        raise RuleError(f"{where}: 'transform' must be one of {sorted(VALUE_TRANSFORMS)}, got {transform!r}")
    if "keys" in raw:
        raise RuleError(f"{where}: 'keys' belongs to allow/exclude rules; augment sets one 'key'")
    return Rule(**rule, key=key, source=source, value=raw.get("value"), transform=transform)


def parse_rules(raw: Any, vendors: Iterable[str] | None = None) -> tuple[Rule, ...]:
    """Every rule, validated, in application order. ``vendors``: the configured vendor names
    (checked against scopes when given)."""
    if raw in (None, "", []):
        return ()
    if not isinstance(raw, list):
        raise RuleError("transformations: must be a list of rules")
    vendors = None if vendors is None else tuple(vendors)
    rules = [parse_rule(item, vendors) for item in raw]
    names = [rule.name for rule in rules]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise RuleError(f"transformations: duplicate rule name(s) {duplicates}")
    return tuple(sorted(rules, key=Rule.order))


def for_vendor(rules: Iterable[Rule], vendor: str, kind: str) -> tuple[Rule, ...]:
    """The rules in ``vendor``'s scope, in application order."""
    return tuple(rule for rule in rules if rule.applies_to(vendor, kind))


def check_vendor(rules: Iterable[Rule], vendor: str, kind: str, required_keys: Iterable[str]) -> None:
    """Refuse a rule that removes a key ``vendor``'s mapping requires (any condition could hold)."""
    for rule in for_vendor(rules, vendor, kind):
        for key in required_keys:
            if rule.removes(key):
                verb = "does not allow" if rule.type == "allow" else "excludes"
                raise RuleError(
                    f"transformations: rule {rule.name!r} {verb} key {key!r}, which vendor "
                    f"{vendor!r} requires (its mapping cannot work without it)"
                )


def check_settings(vendor: str, settings: Mapping[str, str]) -> None:
    """Refuse an unknown value of a per-vendor privacy setting, naming vendor and setting."""
    for name, allowed in SETTING_VALUES.items():
        value = str(settings.get(name) or "").strip().lower()
        if value not in allowed:
            raise RuleError(
                f"vendor {vendor!r}: setting {name} must be one of {[a for a in allowed if a]}, got {value!r}"
            )


def encode(raw: Any) -> str:
    """The ``transformations`` list as the JSON every vendor function receives
    (``<VENDOR>_TRANSFORMATIONS``); Terraform's ``jsonencode`` gives the same document."""
    return json.dumps(raw or [], separators=(",", ":"), sort_keys=True)


@functools.lru_cache(maxsize=16)
def decode(text: str) -> tuple[Rule, ...]:
    """Rules from ``<VENDOR>_TRANSFORMATIONS`` (cached: parsed once per process)."""
    if not text.strip():
        return ()
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise RuleError(f"TRANSFORMATIONS is not valid JSON: {exc}") from None
    return parse_rules(raw)

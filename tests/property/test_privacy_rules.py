"""Properties of the per-vendor transformation (docs/privacy.md), over generated events and rules:
the published event never changes, an excluded key never leaves, an allow list is a ceiling,
and rules outside a vendor's scope do nothing to it."""

from __future__ import annotations

import copy

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.privacy import rules, transform

KEYS = ["event_name", "event_id", "client_id", "ip_override", "user_agent", "page_referrer", "value", "x"]
values = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20), st.lists(st.integers(), max_size=3))
events = st.dictionaries(st.sampled_from(KEYS), values, max_size=8).map(
    lambda e: {**e, "consent": {"ad_user_data": "denied"}}
)
key_lists = st.lists(st.sampled_from(KEYS), min_size=1, max_size=4, unique=True)
scopes = st.sampled_from([["all"], ["ad"], ["analytics"], ["meta"], ["ga4"], ["meta", "ga4"]])


@st.composite
def rule(draw, index):
    kind = draw(st.sampled_from(rules.TYPES))
    raw = {"name": f"r{index}", "type": kind, "scope": draw(scopes), "priority": draw(st.integers(-3, 3))}
    if draw(st.booleans()):
        raw["conditions"] = {"event_name": draw(st.sampled_from(["purchase", "page_view"]))}
    if kind == "augment":
        raw["key"] = draw(st.sampled_from(KEYS))
        if draw(st.booleans()):
            raw["from"] = draw(st.sampled_from(KEYS))
            if draw(st.booleans()):
                raw["transform"] = draw(st.sampled_from(sorted(rules.VALUE_TRANSFORMS)))
        else:
            raw["value"] = draw(st.text(min_size=1, max_size=5))
    else:
        raw["keys"] = draw(key_lists)
    return raw


rule_lists = st.integers(0, 5).flatmap(lambda n: st.tuples(*[rule(i) for i in range(n)]).map(list))


@settings(max_examples=300, deadline=None)
@given(event=events, raw=rule_lists, vendor=st.sampled_from([("meta", "ad"), ("ga4", "analytics"), ("tiktok", "ad")]))
def test_rules_never_change_the_published_event_and_keep_their_promises(event, raw, vendor):
    name, kind = vendor
    published = copy.deepcopy(event)
    out = transform.for_vendor(event, name, kind, {"TRANSFORMATIONS": rules.encode(raw)})
    assert event == published
    applied = [r for r in rules.for_vendor(rules.parse_rules(raw), name, kind) if r.matches(published)]
    for r in applied:
        if r.type == "exclude":
            assert not set(r.keys) & set(out), (r, out)
    allows = [r for r in applied if r.type == "allow"]
    if allows:
        ceiling = set.intersection(*(set(r.keys) for r in allows))
        assert set(out) <= ceiling, (allows, out)
    if not applied:
        assert out == published

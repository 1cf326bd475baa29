"""Hypothesis strategies for GA4 hits and normalized events, shared by the fuzz tests."""

from __future__ import annotations

import time
import urllib.parse

from hypothesis import strategies as st

GA4_KEYS = (
    "v",
    "tid",
    "cid",
    "en",
    "dl",
    "dt",
    "dr",
    "ul",
    "sr",
    "_p",
    "sid",
    "sct",
    "seg",
    "_et",
    "gcs",
    "gcd",
    "npa",
    "dma",
    "dma_cps",
    "_dbg",
    "uid",
    "cu",
    "_s",
    "_ss",
    "_fv",
    "_nsi",
    "ep.value",
    "epn.value",
    "ep.currency",
    "ep.transaction_id",
    "ep.event_id",
    "ep.items",
    "up.email",
    "upn.age",
    "pr1",
    "pr2",
    "uaa",
    "uab",
    "uam",
    "uamb",
    "uap",
    "uapv",
    "uaw",
    "ep.user_data.email",
    "ep.user_data.phone_number",
    "_fbp",
    "_fbc",
    "ttclid",
    "gclid",
)
EVENT_NAMES = ("page_view", "purchase", "add_to_cart", "sign_up", "generate_lead", "view_item", "scroll")

# Text that stresses parsers: unicode, control characters, separators, huge numbers.
nasty_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            " ",
            "0",
            "-1",
            "1e309",
            "NaN",
            "nan",
            "Infinity",
            "9" * 40,
            "true",
            "null",
            "%",
            "%zz",
            "&",
            "=",
            "\n",
            "\r\n",
            "\x00",
            "\ud800",
            "😀",
            "a" * 2000,
            "id1~nm2~pr3",
            "~~~",
            "G-TEST",
            "1.2",
            "G100",
            "G1--",
            "GCD=13l3l3l3l1",
        ]
    ),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)

pair_key = st.one_of(st.sampled_from(GA4_KEYS), st.text(max_size=12))

# Shapes that broke collect (issue 13): digits that are not ASCII ("²".isdigit() is true but
# int("²") raises; "٣" is a decimal digit int() accepts), numbers of thousands of digits,
# user_data paths hundreds of levels deep, item indexes and keys in other scripts.
UNICODE_DIGITS = st.sampled_from(["²", "³", "¹", "٣", "൧", "①", "𝟗", "Ⅻ", "½"])
huge_number = st.integers(min_value=41, max_value=6000).map(lambda n: "9" * n)
number_keys = st.sampled_from(["_et", "sct", "epn.value", "ep.value", "upn.x", "_s", "_p", "tfd"])


@st.composite
def hostile_pairs(draw) -> list[tuple[str, str]]:
    """Parameters in the shapes of the inputs that used to crash collect or amplify a request."""
    kind = draw(
        st.sampled_from(
            [
                "digit_value",
                "huge_number",
                "digit_item",
                "digit_path",
                "deep_path",
                "long_value",
                "long_name",
                "item_slot",
            ]
        )
    )
    digits = draw(st.lists(UNICODE_DIGITS, min_size=1, max_size=3).map("".join))
    if kind == "digit_value":
        return [(draw(number_keys), digits)]
    if kind == "huge_number":
        return [(draw(number_keys), draw(huge_number))]
    if kind == "digit_item":
        return [(f"pr{digits}", "idA"), (f"pr1{digits}", "idB")]
    if kind == "digit_path":
        return [(f"ep.user_data.address.{digits}.city", "x"), (f"ep.user_data.{digits}", "y")]
    if kind == "deep_path":
        depth = draw(st.integers(min_value=5, max_value=3000))
        return [("ep.user_data." + "a." * depth + "b", "x")]
    if kind == "long_value":
        return [
            (
                draw(st.sampled_from(["dl", "dt", "dr", "ep.x", "up.x", "pr1", "cid", "zz"])),
                "v" * draw(st.integers(100, 20_000)),
            )
        ]
    if kind == "long_name":
        return [("en", "e" * draw(st.integers(41, 15_000)))]
    return [("pr1", "idA~k" + draw(huge_number) + "name~v" + draw(huge_number) + "value")]


@st.composite
def ga4_pairs(draw, valid_core: bool) -> list[tuple[str, str]]:
    pairs = draw(st.lists(st.tuples(pair_key, nasty_text), max_size=12))
    if valid_core:
        pairs = [("v", "2"), ("tid", "G-FUZZ"), ("cid", "1.2"), ("en", draw(st.sampled_from(EVENT_NAMES)))] + pairs
    return pairs


def encode_pairs(pairs: list[tuple[str, str]]) -> str:
    return urllib.parse.urlencode([(k, v.encode("utf-8", "surrogatepass")) for k, v in pairs])


@st.composite
def collect_requests(draw) -> dict:
    """One HTTP request to collect: mostly plausible GA4 hits, some pure garbage."""
    # Weighted towards the real endpoint and real methods, where the parsing happens.
    method = draw(st.sampled_from(["POST"] * 6 + ["GET"] * 4 + ["OPTIONS", "PUT", "DELETE", "PATCH"]))
    path = draw(st.sampled_from(["/g/collect"] * 10 + ["/g/collect/", "/", "/collect", "/g/collectx", "/g/%00"]))
    query_pairs = draw(ga4_pairs(valid_core=draw(st.sampled_from([True, True, False]))))
    if draw(st.integers(0, 3)) == 0:
        query_pairs += draw(hostile_pairs())
    query = encode_pairs(query_pairs)
    body_kind = draw(st.sampled_from(["none", "lines", "lines", "binary", "huge", "text", "hostile", "many_lines"]))
    if body_kind == "none":
        body = b""
    elif body_kind == "lines":
        lines = draw(st.lists(ga4_pairs(valid_core=draw(st.sampled_from([True, True, False]))), min_size=1, max_size=5))
        body = "\n".join(encode_pairs(p) for p in lines).encode()
    elif body_kind == "binary":
        body = draw(st.binary(max_size=300))
    elif body_kind == "huge":
        body = b"en=page_view&x=" + b"a" * draw(st.integers(min_value=60_000, max_value=70_000))
    elif body_kind == "hostile":
        body = "\n".join(encode_pairs(draw(hostile_pairs())) for _ in range(draw(st.integers(1, 3)))).encode()
    elif body_kind == "many_lines":
        # Hundreds of lines: only the configured number may be parsed and published.
        line = draw(st.sampled_from([b"a", b"en=view_item", b"en=x&pr1=idA~nmB", b""]))
        body = b"\n".join([line] * draw(st.integers(26, 30_000)))[: 64 * 1024]
    else:
        body = draw(st.text(max_size=300)).encode("utf-8", "surrogatepass")
    headers = {
        "Content-Type": draw(
            st.sampled_from(["text/plain;charset=UTF-8", "application/json", "", "application/x-www-form-urlencoded"])
        ),
    }
    if draw(st.booleans()):
        headers["Origin"] = draw(
            st.sampled_from(["https://example.com", "null", "http://evil.example", "https://example.com:8443"])
        )
    if draw(st.booleans()):
        headers["User-Agent"] = draw(st.sampled_from(["Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0", "", "curl/8"]))
    return {"method": method, "path": path, "query": query, "body": body, "headers": headers}


json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    nasty_text,
)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=12,
)

EVENT_KEYS = (
    "event_name",
    "event_id",
    "client_id",
    "user_id",
    "page_location",
    "page_referrer",
    "page_title",
    "value",
    "currency",
    "transaction_id",
    "items",
    "consent",
    "debug_mode",
    "timestamp_micros",
    "source",
    "ip_override",
    "user_agent",
    "user_data",
    "x-ga-measurement_id",
    "language",
    "screen_resolution",
    "x-ga-mp2-user_properties",
    "engagement_time_msec",
    "session_id",
    "ga_session_id",
    "cookies",
    "_fbp",
    "_fbc",
    "ttclid",
    "gclid",
    "email",
    "phone_number",
    "search_term",
    "method",
)


@st.composite
def item(draw) -> dict:
    keys = (
        "item_id",
        "item_name",
        "price",
        "quantity",
        "item_brand",
        "item_category",
        "item_variant",
        "coupon",
        "discount",
    )
    return draw(st.dictionaries(st.sampled_from(keys), json_value, max_size=6))


@st.composite
def normalized_events(draw) -> dict:
    """Events shaped like collect's output, with any key missing, mistyped or odd."""
    event = {
        "event_name": draw(st.sampled_from(EVENT_NAMES)) if draw(st.integers(0, 4)) else draw(nasty_text),
        "event_id": draw(st.text(min_size=1, max_size=40)),
        "client_id": draw(st.one_of(st.just("123.456"), nasty_text)),
        # Mostly recent (vendors refuse old events), sometimes anything.
        "timestamp_micros": int(time.time() * 1_000_000) - draw(st.integers(0, 3_600_000_000))
        if draw(st.integers(0, 4))
        else draw(st.one_of(st.integers(min_value=0, max_value=2**62), json_value)),
        "consent": draw(
            st.one_of(
                st.fixed_dictionaries(
                    {},
                    optional={
                        p: st.sampled_from(["granted", "denied", "not_set", ""])
                        for p in ("ad_storage", "analytics_storage", "ad_user_data", "ad_personalization")
                    },
                ),
                json_value,
            )
        ),
        "items": draw(st.one_of(st.lists(item(), max_size=4), json_value)),
        "user_data": draw(
            st.one_of(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "email": st.sampled_from(["test@example.com", " TEST@Example.com ", "not-an-email", ""]),
                        "phone_number": st.sampled_from(["+15555550100", "555-0100", "", "abc"]),
                        "address": st.one_of(
                            st.lists(
                                st.dictionaries(
                                    st.sampled_from(
                                        [
                                            "first_name",
                                            "last_name",
                                            "city",
                                            "postal_code",
                                            "country",
                                            "region",
                                            "street",
                                        ]
                                    ),
                                    nasty_text,
                                    max_size=4,
                                ),
                                max_size=2,
                            ),
                            json_value,
                        ),
                    },
                ),
                json_value,
            )
        ),
    }
    # Collect sets these for every browser hit; vendors need them (Meta: URL and user agent).
    if draw(st.integers(0, 4)):
        event["page_location"] = draw(
            st.sampled_from(["https://example.com/p?q=1", "https://example.com/", "not a url", ""])
        )
    if draw(st.integers(0, 4)):
        event["user_agent"] = draw(st.sampled_from(["Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0", "", "curl/8"]))
    if draw(st.booleans()):
        event["ip_override"] = draw(st.sampled_from(["192.0.2.10", "2001:db8::1", "999.1.1.1", ""]))
    extra = draw(st.dictionaries(st.sampled_from(EVENT_KEYS), json_value, max_size=10))
    for key, value in extra.items():
        if draw(st.booleans()):
            event[key] = value
    return event

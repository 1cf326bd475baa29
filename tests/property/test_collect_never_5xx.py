"""Property: no request makes collect answer 5xx or raise (only a broker failure may be 503)."""

from __future__ import annotations

import asyncio
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.collect_app import CollectConfig, Collector, HttpRequest

CONFIG = CollectConfig(mp_api_secrets=("s",), debug_token="t", allowed_origins=("https://a.example",))

WIRE_KEYS = st.sampled_from(
    [
        "v",
        "tid",
        "cid",
        "en",
        "dl",
        "dt",
        "_et",
        "sct",
        "sid",
        "gcs",
        "gcd",
        "npa",
        "dma",
        "pr1",
        "pr200",
        "pr0",
        "ep.value",
        "epn.value",
        "ep.user_data.address.0.city",
        "ep.user_data.email",
        "ep.debug_mode",
        "ep.event_id",
        "up.x",
        "upn.y",
        "uafvl",
        "uamb",
        "sst.x",
        "_uip",
        "_dbg",
        "ep.source",
        "epn.consent",
        "richsstsse",
        "_p",
        "k0",
        "",
    ]
)
WIRE_VALUES = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        [
            "2",
            "G-T",
            "NaN",
            "1e309",
            "-0",
            "G1",
            "G1--",
            "13",
            "13r3",
            "~~",
            "idA~k0~v0~pr~qt1e9",
            "%",
            "%zz",
            "%E2%82",
            "|;|",
        ]
    ),
)


@st.composite
def wire(draw):
    pairs = draw(st.lists(st.tuples(WIRE_KEYS, WIRE_VALUES), max_size=12))
    joined = "&".join(f"{k}={v}" if draw(st.booleans()) else k for k, v in pairs)
    noise = draw(st.text(max_size=20))
    return joined + (noise if draw(st.booleans()) else "")


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
mp_bodies = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {
            "client_id": st.one_of(st.text(max_size=10), st.integers()),
            "events": st.lists(
                st.dictionaries(st.sampled_from(["name", "params", "timestamp_micros"]), json_values, max_size=3),
                max_size=3,
            ),
        },
        optional={
            "user_properties": json_values,
            "consent": json_values,
            "timestamp_micros": json_values,
            "user_data": json_values,
        },
    ).map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
    st.sampled_from(
        [
            b'{"client_id":"1","events":[{"name":"a","params":{"value":1e999}}]}',
            b'{"client_id":"1","events":[{"name":"a","params":{"items":[{"item_id":"x","price":"1e999"}]}}]}',
            b'{"client_id":"1","events":[{"name":"a","params":{"engagement_time_msec":"NaN","session_id":1e300}}]}',
            b'{"client_id":"1","timestamp_micros":true,"events":[{"name":"a"}]}',
        ]
    ),
)


class Publisher:
    async def __call__(self, events):
        # Published events must be JSON-encodable: a vendor would choke on anything else.
        for event in events:
            json.dumps(event, allow_nan=False)
        return ["1"] * len(events)


def answer(request: HttpRequest) -> int:
    return asyncio.run(Collector(Publisher(), CONFIG).handle(request)).status


common = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@common
@given(
    method=st.sampled_from(["GET", "POST", "OPTIONS", "PUT", "get", ""]),
    path=st.sampled_from(["/g/collect", "/g/collect/", "/mp/collect", "/debug/mp/collect", "/", "/x", ""]),
    query=wire(),
    body=st.one_of(
        wire(),
        st.lists(wire(), max_size=4).map("\r\n".join),
        st.binary(max_size=100).map(lambda b: b.decode("latin-1")),
    ),
    headers=st.dictionaries(
        st.sampled_from(
            [
                "cookie",
                "x-forwarded-for",
                "user-agent",
                "origin",
                "sec-ch-ua",
                "x-tagging-debug",
                "x-client-geo-country",
                "access-control-request-headers",
            ]
        ),
        st.text(max_size=40),
        max_size=5,
    ),
    raw=st.booleans(),
)
def test_no_gtag_input_answers_5xx(method, path, query, body, headers, raw):
    data = body.encode("utf-8", "surrogatepass") if not raw else body.encode("utf-8", "replace")
    status = answer(HttpRequest(method, path, query, headers, data))
    assert status < 500


@common
@given(
    path=st.sampled_from(["/mp/collect", "/debug/mp/collect"]),
    query=st.sampled_from(
        ["measurement_id=G-T&api_secret=s", "measurement_id=G-T", "api_secret=s", "", "measurement_id=&api_secret=s"]
    ),
    body=mp_bodies,
    headers=st.dictionaries(
        st.sampled_from(["x-tagging-debug", "x-forwarded-for", "user-agent"]),
        st.sampled_from(["t", "1.2.3.4", "ua", ""]),
        max_size=3,
    ),
)
def test_no_measurement_protocol_input_answers_5xx(path, query, body, headers):
    assert answer(HttpRequest("POST", path, query, headers, body)) < 500

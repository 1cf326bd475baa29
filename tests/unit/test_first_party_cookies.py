"""Identifier cookies set by collect: precedence, consent matrix, formats, lifetimes, domain.

Formats are the vendors' documented ones:
- ``_fbp``/``_fbc``: https://developers.facebook.com/docs/marketing-api/conversions-api/parameters/fbp-and-fbc/
  (``fb.<subdomainIndex>.<creationTime ms>.<random | fbclid>``, subdomainIndex = eTLD+1 labels − 1,
  fbclid case kept, rebuilt only when the URL's fbclid differs, 90 days);
- ``_gcl_aw``/``_gcl_gb``: ``GCL.<unix s>.<gclid|gbraid>`` as seen in browsers' cookie jars (not a
  documented Google format; readers such as github.com/mbaersch/legacy-click-id take the last part);
- 400-day ceiling: RFC 6265bis (draft-ietf-httpbis-rfc6265bis, "Max-Age ... reduced to the limit").
- Snapchat ``ScCid``→``_scclid``, Pinterest ``epik``→``_epik``, Reddit ``rdt_cid``→``_rdt_cid``,
  LinkedIn ``li_fat_id``, Microsoft ``msclkid``→``_uetmsclkid`` (``_uet`` prefix): the click-id
  sources the vendors' server APIs name (docs/first-party.md lists the pages).
"""

from __future__ import annotations

import asyncio
import re
import time
from urllib.parse import quote

import pytest

from shared.collect_app import CollectConfig, Collector, HttpRequest
from shared.first_party import cookies as fpc
from shared.first_party import domain as domains
from tests.recording import RecordingPublisher

LANDING = "https://www.shop.example.co.uk/p?gclid=Cj0KCQ-AbC_1&fbclid=IwAR2-XyZ_q&ttclid=E.C.P.tt1&ScCid=sc-1&epik=dj0yJnU9&rdt_cid=rd-1&li_fat_id=5f7c2d3e-aaaa-bbbb-cccc-123456789abc&msclkid=0a1b2c3d4e&gbraid=0AAAAA-gb"
BASE = "v=2&tid=G-TEST&cid=111.222&en=page_view"
HOST = {"host": "metrics.shop.example.co.uk"}
FBP = re.compile(r"^fb\.\d\.\d{13}\.\d{1,10}(\.[A-Za-z0-9_-]{2}|\.[A-Za-z0-9_-]{8})?$")  # acceptance F2.6


def query(gcs: str | None = None, dl: str = LANDING) -> str:
    q = f"{BASE}&dl={quote(dl, safe='')}"
    return q + (f"&gcs={gcs}" if gcs else "")


def handle(q: str, headers: dict | None = None, body: bytes = b"", **config):
    publisher = RecordingPublisher()
    collector = Collector(publisher, CollectConfig(**config))
    response = asyncio.run(collector.handle(HttpRequest("POST", "/g/collect", q, {**HOST, **(headers or {})}, body)))
    assert response.status in (200, 204), response.body
    return response, publisher.events


def set_cookies(response) -> dict[str, str]:
    return {header.split("=", 1)[0]: header for header in response.cookies}


def value(header: str) -> str:
    return header.split(";", 1)[0].split("=", 1)[1]


def max_age(header: str) -> int:
    return int(re.search(r"Max-Age=(\d+)", header).group(1))


# -- the client id: precedence server cookie > _ga > cid > new ---------------------------------


@pytest.mark.parametrize(
    "cookie, cid, expected_id, js_id",
    [
        ("FPID=FPID2.2.999.888; _ga=GA1.1.555.666", "111.222", "999.888", "111.222"),  # server cookie wins
        ("_ga=GA1.2.555.666", "111.222", "555.666", "111.222"),  # then _ga (GA1.n.<rand>.<ts>)
        ("_ga=GA1.1.111.222", "111.222", "111.222", None),  # migration: same id, nothing kept aside
        ("_ga=garbage", "111.222", "111.222", None),  # malformed _ga: the hit's cid
        ("", "111.222", "111.222", None),  # the hit's cid
        ("", "", None, None),  # nothing: a new GA-style id
    ],
)
def test_client_id_precedence(cookie, cid, expected_id, js_id):
    q = query().replace("cid=111.222", f"cid={cid}") if cid else query().replace("&cid=111.222", "")
    response, [event] = handle(q, {"cookie": cookie} if cookie else {})
    if expected_id is None:
        assert re.fullmatch(r"\d{9,10}\.\d{10}", event["client_id"])
        expected_id = event["client_id"]
    assert event["client_id"] == expected_id
    assert event.get("x-ga-js_client_id") == js_id
    fpid = set_cookies(response)["FPID"]
    assert value(fpid) == f"FPID2.2.{expected_id}"


def test_switching_on_fpid_keeps_existing_users_client_id():
    # A returning visitor with only the JS cookie: the new server cookie holds the same id.
    first, [event1] = handle(query(), {"cookie": "_ga=GA1.1.111.222"})
    assert event1["client_id"] == "111.222"
    cookie = value(set_cookies(first)["FPID"])
    second, [event2] = handle(query(), {"cookie": f"_ga=GA1.1.111.222; FPID={cookie}"})
    assert event2["client_id"] == "111.222" and value(set_cookies(second)["FPID"]) == cookie


def test_fpid_attributes_domain_and_a_fresh_max_age_every_hit():
    response, _ = handle(query(), {"cookie": "FPID=FPID2.2.999.888"})
    header = set_cookies(response)["FPID"]
    assert (
        header
        == f"FPID=FPID2.2.999.888; Max-Age={395 * 86400}; Path=/; Domain=example.co.uk; Secure; HttpOnly; SameSite=Lax"
    )


@pytest.mark.parametrize("days, expected", [(1, 1), (400, 400), (401, 400), (730, 400)])
def test_configured_lifetimes_are_clamped_to_400_days(days, expected, capsys):
    response, _ = handle(query(), cookie_max_age_days=days)
    assert max_age(set_cookies(response)["FPID"]) == expected * 86400 <= 34_560_000
    assert ("cookie lifetime clamped" in capsys.readouterr().out) == (days > 400)


@pytest.mark.parametrize(
    "host, cookie_domain, expected",
    [
        ("metrics.shop.example.co.uk", "", "example.co.uk"),
        ("track.example.com:443", "", "example.com"),
        ("localhost:8080", "", None),
        ("127.0.0.1:8080", "", None),
        # *.run.app is on the list: the service's own host is its registrable domain.
        ("collect-abc-ew.a.run.app", "", "collect-abc-ew.a.run.app"),
        ("track.example.com", "host", None),
        ("track.example.com", "example.com", "example.com"),
        ("bad host;Domain=evil.com", "", None),
    ],
)
def test_cookie_domain_is_the_registrable_domain_or_the_setting(host, cookie_domain, expected):
    response, _ = handle(query(), {"host": host}, cookie_domain=cookie_domain)
    header = set_cookies(response)["FPID"]
    assert (f"Domain={expected};" in header) if expected else ("Domain=" not in header)


# -- vendor cookies ------------------------------------------------------------------------------


def test_every_vendor_click_id_becomes_its_cookie_and_reaches_the_event():
    before = int(time.time() * 1000)
    response, [event] = handle(query(), server_cookies=("all",))
    got = {name: value(header) for name, header in set_cookies(response).items()}
    assert got["_gcl_aw"].startswith("GCL.") and got["_gcl_aw"].endswith(".Cj0KCQ-AbC_1")
    assert re.fullmatch(r"GCL\.\d{10}\.0AAAAA-gb", got["_gcl_gb"])
    assert re.fullmatch(r"fb\.2\.\d{13}\.IwAR2-XyZ_q", got["_fbc"])  # example.co.uk → index 2, case kept
    assert int(got["_fbc"].split(".")[2]) >= before
    assert FBP.fullmatch(got["_fbp"]) and got["_fbp"].startswith("fb.2.")
    assert got["ttclid"] == "E.C.P.tt1" and got["_scclid"] == "sc-1" and got["_epik"] == "dj0yJnU9"
    assert got["_rdt_cid"] == "rd-1" and got["li_fat_id"] == "5f7c2d3e-aaaa-bbbb-cccc-123456789abc"
    assert got["_uetmsclkid"] == "_uet0a1b2c3d4e"
    # Pixel-only cookies are never invented (only re-issued when the browser has them).
    assert not {"_ttp", "_scid", "_rdt_uuid", "_uetvid", "_gcl_au"} & set(got)
    # The event carries what the response sets, so vendors match on the same values.
    assert {name: event["cookies"][name] for name in got if name != "FPID"} == {
        k: v for k, v in got.items() if k != "FPID"
    }


def test_vendor_cookie_attributes_and_lifetimes():
    response, _ = handle(query(), server_cookies=("meta", "google_ads"))
    headers = set_cookies(response)
    assert set(headers) == {"FPID", "_fbp", "_fbc", "_gcl_aw", "_gcl_gb"}  # families not listed: nothing
    for name in ("_fbp", "_fbc", "_gcl_aw"):
        assert headers[name].endswith("; Max-Age=7776000; Path=/; Domain=example.co.uk; Secure; SameSite=Lax")
        assert "HttpOnly" not in headers[name]  # the vendors' pixels read them


def test_existing_cookies_are_reissued_unchanged_with_a_fresh_max_age():
    jar = "_fbp=fb.1.1700000000000.123456789; _ttp=tt-abc; _scid=sc-uuid; _rdt_uuid=1700000000000.uuid-1; _uetvid=vid1; _gcl_au=1.1.42.1700000000"
    response, [event] = handle(query(dl="https://shop.example.com/"), {"cookie": jar}, server_cookies=("all",))
    got = {name: value(header) for name, header in set_cookies(response).items()}
    assert got == {
        "FPID": "FPID2.2.111.222",
        "_fbp": "fb.1.1700000000000.123456789",
        "_ttp": "tt-abc",
        "_scid": "sc-uuid",
        "_rdt_uuid": "1700000000000.uuid-1",
        "_uetvid": "vid1",
        "_gcl_au": "1.1.42.1700000000",
    }
    assert max_age(set_cookies(response)["_ttp"]) == 390 * 86400
    assert event["cookies"]["_ttp"] == "tt-abc"


def test_fbc_is_rebuilt_only_for_a_new_fbclid_and_falls_back_to_the_referrer():
    old = "fb.1.1600000000000.OldClick"
    com = {"host": "track.example.com"}
    same = handle(
        query(dl="https://shop.example.com/?fbclid=OldClick"),
        {"cookie": f"_fbc={old}", **com},
        server_cookies=("meta",),
    )[0]
    assert value(set_cookies(same)["_fbc"]) == old
    new = handle(
        query(dl="https://shop.example.com/?fbclid=NewClick"),
        {"cookie": f"_fbc={old}", **com},
        server_cookies=("meta",),
    )[0]
    assert re.fullmatch(r"fb\.1\.\d{13}\.NewClick", value(set_cookies(new)["_fbc"]))
    ref = handle(
        query(dl="https://shop.example.com/") + "&dr=" + quote("https://shop.example.com/?fbclid=FromRef", safe=""),
        server_cookies=("meta",),
    )[0]
    assert value(set_cookies(ref)["_fbc"]).endswith(".FromRef")


def test_a_different_click_cookie_the_page_set_today_is_never_overwritten():
    today = f"fb.1.{int(time.time() * 1000) - 3_600_000}.PageSetIt"
    gcl_today = f"GCL.{int(time.time()) - 600}.PageGclid"
    response, _ = handle(
        query(dl="https://shop.example.com/?fbclid=Other&gclid=OtherG"),
        {"cookie": f"_fbc={today}; _gcl_aw={gcl_today}"},
        server_cookies=("meta", "google_ads"),
    )
    got = set_cookies(response)
    assert value(got["_fbc"]) == today and value(got["_gcl_aw"]) == gcl_today


@pytest.mark.parametrize(
    "bad", ["fb.1.123.456", "fb.1.1700000000000.12.TOOLONGAPPENDIX", "garbage", "fb.x.1700000000000.1"]
)
def test_malformed_fbp_is_regenerated(bad):
    response, _ = handle(query(), {"cookie": f"_fbp={bad}"}, server_cookies=("meta",))
    fbp = value(set_cookies(response)["_fbp"])
    assert fbp != bad and FBP.fullmatch(fbp)


def test_hostile_cookie_and_click_id_values_are_not_written_back():
    response, _ = handle(
        query(dl="https://shop.example.com/?gclid=a%3Bb%20c&ttclid=ok1"),
        {"cookie": '_ttp="x;y"; _scid=a b'},
        server_cookies=("all",),
    )
    got = set_cookies(response)
    assert "_gcl_aw" not in got and value(got["ttclid"]) == "ok1" and "_ttp" not in got and "_scid" not in got
    assert all(";" not in value(h) and " " not in value(h) for h in got.values())


# -- consent matrix ------------------------------------------------------------------------------

JAR = "FPID=FPID2.2.999.888; _fbp=fb.1.1700000000000.1; _fbc=fb.1.1700000000000.Old; _gcl_aw=GCL.1700000000.G; _ttp=t"


@pytest.mark.parametrize(
    "gcs, fpid_set, ad_set",
    [
        ("G111", True, True),  # both granted
        ("G101", True, False),  # ad_storage denied
        ("G110", False, True),  # analytics_storage denied
        ("G100", False, False),  # both denied
        (None, True, True),  # not set: treated as granted (no consent mode on the page)
    ],
)
def test_consent_matrix(gcs, fpid_set, ad_set):
    response, [event] = handle(query(gcs=gcs), {"cookie": JAR}, server_cookies=("all",))
    headers = set_cookies(response)
    fpid = headers["FPID"]
    if fpid_set:
        assert value(fpid) == "FPID2.2.999.888" and max_age(fpid) > 0 and event["client_id"] == "999.888"
    else:
        # Not read (the page's cid stays), and the browser's cookie is cleared.
        assert value(fpid) == "" and max_age(fpid) == 0 and event["client_id"] == "111.222"
        assert event["consent"]["analytics_storage"] == "denied"
    ad = {name: headers[name] for name in ("_fbp", "_fbc", "_gcl_aw", "_ttp", "_gcl_gb", "ttclid") if name in headers}
    if ad_set:
        assert all(max_age(h) > 0 and value(h) for h in ad.values()) and {
            "_fbp",
            "_fbc",
            "_gcl_aw",
            "_ttp",
            "ttclid",
        } <= set(ad)
    else:
        # Nothing set or restored; the managed cookies the browser sent are cleared.
        assert set(ad) == {"_fbp", "_fbc", "_gcl_aw", "_ttp"} and all(
            max_age(h) == 0 and value(h) == "" for h in ad.values()
        )
        assert "_gcl_gb" not in event.get("cookies", {})  # no cookie was built from the URL


def test_one_denied_event_in_a_batch_denies_the_cookies_of_the_request():
    body = b"en=a\r\nen=b&gcs=G100"
    response, events = handle(query(), {"cookie": "FPID=FPID2.2.999.888"}, body, server_cookies=("meta",))
    assert len(events) == 2
    assert all(max_age(h) == 0 for h in response.cookies) and set(set_cookies(response)) == {"FPID"}


def test_without_server_cookies_the_browsers_vendor_cookies_are_still_copied_and_nothing_is_set():
    jar = "_fbp=fb.1.1700000000000.1; _scclid=s; _epik=e; li_fat_id=l; _uetmsclkid=_uetm; _rdt_cid=r; _gcl_gb=GCL.1.g; other=x"
    response, [event] = handle(query(), {"cookie": jar})
    assert event["cookies"] == {
        "_fbp": "fb.1.1700000000000.1",
        "_gcl_gb": "GCL.1.g",
        "_scclid": "s",
        "_epik": "e",
        "_rdt_cid": "r",
        "li_fat_id": "l",
        "_uetmsclkid": "_uetm",
    }
    assert set(set_cookies(response)) == {"FPID"}


def test_unknown_server_cookie_family_fails_at_start_up():
    with pytest.raises(ValueError, match="SERVER_COOKIES"):
        CollectConfig(server_cookies=("meta", "myspace"))


def test_every_documented_key_has_a_family_and_a_lifetime_within_the_ceiling():
    assert set(fpc.VENDOR_COOKIES) == {
        "_fbp",
        "_fbc",
        "_ttp",
        "ttclid",
        "_gcl_aw",
        "_gcl_gb",
        "_gcl_au",
        "_scid",
        "_scclid",
        "_epik",
        "_rdt_cid",
        "_rdt_uuid",
        "li_fat_id",
        "_uetmsclkid",
        "_uetvid",
    }
    assert all(1 <= spec.days <= 400 for spec in fpc.SPECS)


@pytest.mark.parametrize("domain, index", [("example.com", 1), ("example.co.uk", 2), (None, 0)])
def test_meta_subdomain_index(domain, index):
    assert domains.subdomain_index(domain) == index

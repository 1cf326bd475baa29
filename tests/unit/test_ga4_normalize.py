"""gtag parameters → normalized event keys (spec §3, §6): types, prefixes, nothing dropped."""

from shared.ga4.client_hints import brands_header, client_hints, full_version_list
from shared.ga4.context import add_request_context, client_ip, event_location
from shared.ga4.normalize import normalize_gtag
from shared.ga4.numbers import to_int, to_number


def test_common_event_data_names_and_types():
    event = normalize_gtag(
        {
            "v": "2",
            "tid": "G-T",
            "gtm": "45je",
            "en": "page_view",
            "cid": "1.2",
            "uid": "u-1",
            "sid": "1712891587",
            "sct": "3",
            "_et": "12397",
            "_p": "1749196701069",
            "_s": "13",
            "tfd": "8412",
            "ul": "en-us",
            "sr": "1728x1117",
            "dl": "https://shop.example.com/a/b?x=1",
            "dr": "https://ref.example/",
            "dt": "Title",
            "cu": "EUR",
        }
    )
    assert event["ga_session_id"] == "1712891587"
    assert event["ga_session_number"] == 3 and event["engagement_time_msec"] == 12397
    assert event["x-ga-page_id"] == 1749196701069 and event["x-ga-request_count"] == 13 and event["x-ga-tfd"] == 8412
    assert (event["x-ga-protocol_version"], event["x-ga-measurement_id"], event["x-ga-gtm_version"]) == (
        "2",
        "G-T",
        "45je",
    )
    assert (event["client_id"], event["user_id"], event["language"], event["screen_resolution"]) == (
        "1.2",
        "u-1",
        "en-us",
        "1728x1117",
    )
    assert (event["page_location"], event["page_referrer"], event["page_title"]) == (
        "https://shop.example.com/a/b?x=1",
        "https://ref.example/",
        "Title",
    )
    assert (event["page_hostname"], event["page_path"], event["currency"]) == ("shop.example.com", "/a/b", "EUR")


def test_explicit_hostname_and_path_win_over_derived_ones():
    event = normalize_gtag({"en": "x", "dl": "https://a.example/p", "dh": "b.example", "dp": "/virtual"})
    assert (event["page_hostname"], event["page_path"]) == ("b.example", "/virtual")


def test_numbers_are_coerced_from_either_prefix_and_bad_ones_keep_the_raw_text():
    event = normalize_gtag(
        {
            "en": "x",
            "ep.value": "1150.00",
            "epn.tax": "-330",
            "epn.shipping": "1.600000023841858",
            "_et": "NaN",
            "sct": "",
            "epn.percent_scrolled": "90",
            "epn.weird": "abc",
        }
    )
    assert event["value"] == 1150.0 and event["tax"] == -330 and event["shipping"] == 1.600000023841858
    assert event["engagement_time_msec"] is None and event["x-ga-raw-engagement_time_msec"] == "NaN"
    assert event["ga_session_number"] is None and "x-ga-raw-ga_session_number" not in event
    assert event["percent_scrolled"] == 90
    assert event["weird"] is None and event["x-ga-raw-weird"] == "abc"


def test_number_helpers():
    assert [to_number(t) for t in ("3", "-3", "+3", "1.50", "1e3", "", " ", "NaN", "inf", "x")] == [
        3,
        -3,
        3,
        1.5,
        1000.0,
        None,
        None,
        None,
        None,
        None,
    ]
    assert to_int("12.9") == 12 and to_int("nope") is None


def test_string_event_params_stay_strings_including_empty_ones():
    event = normalize_gtag({"en": "click", "ep.link_domain": "", "ep.outbound": "true", "ep.link_id": "4734450"})
    assert event["link_domain"] == "" and event["outbound"] == "true" and event["link_id"] == "4734450"


def test_user_properties_string_and_number():
    event = normalize_gtag({"en": "x", "up.device_type": "desktop", "upn.lifetime_value": "12.5", "upn.bad": "?"})
    assert event["user_properties"] == {
        "device_type": "desktop",
        "lifetime_value": 12.5,
        "bad": None,
        "x-ga-raw-bad": "?",
    }


def test_system_server_and_internal_params():
    event = normalize_gtag(
        {
            "en": "x",
            "_fv": "1",
            "_ss": "1",
            "_ee": "1",
            "_c": "1",
            "_eu": "AEA",
            "_tu": "DA",
            "_z": "ccd",
            "sst.gcsub": "region1",
            "sst.ude": "1",
            "gcs": "G111",
            "ecid": "15",
            "em": "tv.1~em.abc",
            "ur": "",
        }
    )
    assert event["x-ga-system_properties"] == {
        "fv": "1",
        "ss": "1",
        "ee": True,
        "c": "1",
        "eu": "AEA",
        "tu": "DA",
        "z": "ccd",
    }
    assert event["x-sst-system_properties"] == {"gcsub": "region1", "ude": "1"}
    assert (event["x-ga-gcs"], event["x-ga-ecid"], event["x-ga-em"], event["x-ga-ur"]) == (
        "G111",
        "15",
        "tv.1~em.abc",
        "",
    )


def test_unknown_params_are_kept_as_x_ga_mp2():
    event = normalize_gtag(
        {
            "en": "x",
            "are": "1",
            "richsstsse": "",
            "tag_exp": "1~2",
            "_geo": "1",
            "newthing": "v",
            "sstx": "1",
            "epnx": "2",
        }
    )
    for key, value in {
        "are": "1",
        "richsstsse": "",
        "tag_exp": "1~2",
        "_geo": "1",
        "newthing": "v",
        "sstx": "1",
        "epnx": "2",
    }.items():
        assert event[f"x-ga-mp2-{key}"] == value


def test_event_params_cannot_overwrite_the_collectors_own_keys():
    event = normalize_gtag(
        {
            "en": "x",
            "ep.source": "newsletter",
            "ep.consent": "yes",
            "epn.timestamp_micros": "1",
            "ep.x-ga-measurement_id": "G-FAKE",
        }
    )
    assert "source" not in event and event["x-ga-mp2-ep.source"] == "newsletter"
    assert isinstance(event["consent"], dict) and event["x-ga-mp2-ep.consent"] == "yes"
    assert event["x-ga-mp2-epn.timestamp_micros"] == "1" and "x-ga-measurement_id" not in event


def test_debug_mode_from_dbg_or_ep_debug_mode_true_only():
    assert normalize_gtag({"en": "x", "_dbg": "1"})["debug_mode"] is True
    assert normalize_gtag({"en": "x", "ep.debug_mode": "true"})["debug_mode"] is True
    off = normalize_gtag({"en": "x", "ep.debug_mode": "false"})
    assert off["debug_mode"] is False and off["x-ga-mp2-ep.debug_mode"] == "false"


def test_the_pages_event_id_is_used():
    assert normalize_gtag({"en": "x", "ep.event_id": "evt-42"})["event_id"] == "evt-42"
    assert "event_id" not in normalize_gtag({"en": "x", "ep.event_id": ""})


def test_user_data_paths_become_nested_objects_with_address_lists():
    event = normalize_gtag(
        {
            "en": "x",
            "ep.user_data.email": "test@example.com",
            "ep.user_data.address.0.first_name": "Ada",
            "ep.user_data.address.1.city": "Paris",
            "ep.user_data.email.bad": "clash",
            "ep.user_data._tag_mode": "CODE",
        }
    )
    assert event["user_data"] == {
        "email": "test@example.com",
        "address": [{"first_name": "Ada"}, {"city": "Paris"}],
        "_tag_mode": "CODE",
    }
    assert event["x-ga-mp2-ep.user_data.email.bad"] == "clash"


def test_campaign_overrides_accept_both_term_spellings_and_uip_is_kept_verbatim():
    event = normalize_gtag({"en": "x", "cm": "cpc", "cs": "google", "cn": "spring", "ck": "shoes", "_uip": "::"})
    assert (event["campaign_medium"], event["campaign_source"], event["campaign_name"], event["campaign_term"]) == (
        "cpc",
        "google",
        "spring",
        "shoes",
    )
    assert normalize_gtag({"en": "x", "ct": "boots"})["campaign_term"] == "boots"
    # A browser must not choose the IP vendors receive (collect sets it from the request).
    assert "ip_override" not in event and event["x-ga-mp2-_uip"] == "::"


def test_client_hints_decode_the_double_encoded_full_version_list():
    assert full_version_list("Chromium;136.0|Google%20Chrome;136.0|Not.A%2FBrand;99.0.0.0|Not(A%3ABrand;24|nover") == [
        {"brand": "Chromium", "version": "136.0"},
        {"brand": "Google Chrome", "version": "136.0"},
        {"brand": "Not.A/Brand", "version": "99.0.0.0"},
        {"brand": "Not(A:Brand", "version": "24"},
        {"brand": "nover", "version": ""},
    ]
    hints = client_hints(
        {"uaa": "arm", "uab": "64", "uamb": "1", "uam": "", "uap": "Android", "uapv": "14", "uaw": "0"}, {}
    )
    assert hints == {
        "architecture": "arm",
        "bitness": "64",
        "model": "",
        "platform": "Android",
        "platform_version": "14",
        "mobile": True,
        "wow64": False,
    }


def test_client_hints_from_headers_when_the_hit_has_none():
    headers = {
        "sec-ch-ua": '"Chromium";v="136", "Google Chrome";v="136"',
        "sec-ch-ua-mobile": "?0",
        "sec-ch-ua-platform": '"macOS"',
    }
    assert client_hints({}, headers) == {
        "brands": brands_header(headers["sec-ch-ua"]),
        "mobile": False,
        "platform": "macOS",
    }
    assert brands_header(headers["sec-ch-ua"]) == [
        {"brand": "Chromium", "version": "136"},
        {"brand": "Google Chrome", "version": "136"},
    ]
    assert client_hints({}, {}) is None


def test_client_ip_is_read_from_the_right_past_the_trusted_hops():
    # The load balancer appends "<client>,<lb>" to what the client sent (one trusted hop).
    assert client_ip({"x-forwarded-for": "203.0.113.7, 10.0.0.1"}) == "203.0.113.7"
    assert client_ip({"x-forwarded-for": "8.8.8.8, 203.0.113.7, 10.0.0.1"}) == "203.0.113.7"
    assert client_ip({"x-forwarded-for": "8.8.8.8,1.1.1.1, 2001:db8::1,10.0.0.1"}) == "2001:db8::1"
    # Cloud Run's own front end appends only "<client>": mode none (0 hops).
    assert client_ip({"x-forwarded-for": "8.8.8.8, 2001:db8::1"}, trusted_hops=0) == "2001:db8::1"
    # Fewer entries than the proxies would have added: not through them, so no IP at all.
    assert client_ip({"x-forwarded-for": "203.0.113.7"}) is None
    assert client_ip({"x-forwarded-for": "not-an-ip, 10.0.0.1"}, "192.0.2.1") is None
    assert client_ip({"x-forwarded-for": "1.2.3.4," * 5000 + "203.0.113.7, 10.0.0.1"}) == "203.0.113.7"
    assert client_ip({}, "192.0.2.1") == "192.0.2.1"
    assert client_ip({}) is None


def test_geo_from_load_balancer_headers_only_when_trusted():
    headers = {"x-client-geo-country": "DE", "x-client-geo-region": "DE-BY", "x-client-geo-city": "munich"}
    assert event_location(headers) == {"country": "DE", "region": "DE-BY", "city": "munich"}
    assert event_location(headers, trusted=False) is None
    # Headers any client can send are not geo sources.
    assert event_location({"cf-ipcountry": "FR", "x-appengine-country": "FR"}) is None
    assert event_location({"x-client-geo-country": "ZZ"}) is None


def test_request_context_is_the_requests_unless_the_request_is_authenticated():
    event = {"x-ga-mp2-_uip": "198.51.100.1", "x-ga-mp2-ep.user_agent": "Server UA"}
    add_request_context(event, "203.0.113.7", "UA", {"country": "DE"})
    assert (event["ip_override"], event["user_agent"], event["event_location"]) == (
        "203.0.113.7",
        "UA",
        {"country": "DE"},
    )
    add_request_context(event, "203.0.113.7", "UA", None, trusted_overrides=True)
    assert (event["ip_override"], event["user_agent"]) == ("198.51.100.1", "Server UA")
    event = {"x-ga-mp2-_uip": "not-an-ip"}
    add_request_context(event, "203.0.113.7", None, None, trusted_overrides=True)
    assert event["ip_override"] == "203.0.113.7"


def test_nameless_event_params_and_empty_items_are_kept_verbatim():
    event = normalize_gtag({"en": "x", "ep.": "a", "epn.": "1", "pr1": "", "pr2": "idB"})
    assert event["x-ga-mp2-ep."] == "a" and event["x-ga-mp2-epn."] == "1" and "" not in event
    assert event["x-ga-mp2-pr1"] == "" and event["items"] == [{"item_id": "B"}]

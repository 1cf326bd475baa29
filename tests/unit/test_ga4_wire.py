"""The gtag wire format: lenient query/line parsing, batch splitting, cookies."""

from shared.ga4.wire import parse_cookies, parse_pairs, split_lines


def test_flags_without_equals_and_empty_values_survive_as_empty_strings():
    assert parse_pairs("richsstsse&uam=&ep.link_domain=&en=x") == {
        "richsstsse": "",
        "uam": "",
        "ep.link_domain": "",
        "en": "x",
    }


def test_duplicate_keys_last_wins_and_empty_pieces_are_ignored():
    assert parse_pairs("a=1&&a=2&=orphan&") == {"a": "2"}


def test_percent_and_plus_decoding():
    params = parse_pairs("dt=Caf%C3%A9+%26+Bar&dl=https%3A%2F%2Fx.example%2F%3Fa%3D1%26b%3D2")
    assert params == {"dt": "Café & Bar", "dl": "https://x.example/?a=1&b=2"}


def test_broken_percent_escapes_do_not_raise():
    assert parse_pairs("dt=100%&x=%zz") == {"dt": "100%", "x": "%zz"}


def test_batches_split_on_crlf_and_lf_and_blank_lines_are_dropped():
    assert split_lines("en=a\r\nen=b\n\n  \r\nen=c\r\n") == ["en=a", "en=b", "en=c"]
    assert split_lines("") == []


def test_cookie_header_parsing_is_lenient():
    cookies = parse_cookies('_ga=GA1.1.1.2; FPID="FPID2.2.1.2"; broken; tagging_debug=t%20k')
    assert cookies == {"_ga": "GA1.1.1.2", "FPID": "FPID2.2.1.2", "tagging_debug": "t k"}

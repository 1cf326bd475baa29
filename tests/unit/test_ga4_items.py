"""prN item strings → item dicts (spec §4)."""

from shared.ga4.items import item_index, parse_item
from shared.ga4.normalize import normalize_gtag

FULL = (
    "idSKU_12345~nmStan and Friends Tee~afGoogle Store~cpSUMMER_FUN~ds2.22~lp5~brGoogle~caApparel"
    "~c2Adult~c3Shirts~c4Crew~c5Short sleeve~lirelated_products~lnRelated products~vagreen"
    "~loChIJIQBpAG2ahYAR_6128GcTUEo~pr10.01~qt3~piP1~pnSummer~cnBanner~csslot1"
)


def test_every_item_key_is_mapped():
    assert parse_item(FULL) == {
        "item_id": "SKU_12345",
        "item_name": "Stan and Friends Tee",
        "affiliation": "Google Store",
        "coupon": "SUMMER_FUN",
        "discount": 2.22,
        "index": 5,
        "item_brand": "Google",
        "item_category": "Apparel",
        "item_category2": "Adult",
        "item_category3": "Shirts",
        "item_category4": "Crew",
        "item_category5": "Short sleeve",
        "item_list_id": "related_products",
        "item_list_name": "Related products",
        "item_variant": "green",
        "location_id": "ChIJIQBpAG2ahYAR_6128GcTUEo",
        "price": 10.01,
        "quantity": 3,
        "promotion_id": "P1",
        "promotion_name": "Summer",
        "creative_name": "Banner",
        "creative_slot": "slot1",
    }


def test_custom_parameters_come_from_k_and_v_pairs():
    item = parse_item("idA~k0currencyIso~v0ARS~k1color~v1red~k10size~v10XL")
    assert item == {"item_id": "A", "currencyIso": "ARS", "color": "red", "size": "XL"}


def test_orphan_custom_values_and_unknown_codes_are_kept_not_dropped():
    item = parse_item("idA~pr1~v3lonely~zzmystery~k4price~v4oops~x")
    assert item["x-ga-mp2-v3"] == "lonely"
    assert item["x-ga-mp2-zz"] == "mystery"
    assert item["price"] == 1 and item["x-ga-mp2-k4"] == "price" and item["x-ga-mp2-v4"] == "oops"
    assert item["x-ga-mp2-x"] == ""


def test_unparseable_numbers_become_null_with_the_raw_text_kept():
    item = parse_item("idA~prabc~qt~ds1,5")
    assert item["price"] is None and item["x-ga-raw-price"] == "abc"
    assert item["quantity"] is None and "x-ga-raw-quantity" not in item
    assert item["discount"] is None and item["x-ga-raw-discount"] == "1,5"


def test_item_values_keep_newlines_commas_and_quotes():
    assert parse_item('nmPhone 6,1" 13+5MP\nAndroid')["item_name"] == 'Phone 6,1" 13+5MP\nAndroid'


def test_item_parameter_range_is_pr1_to_pr200():
    assert [item_index(k) for k in ("pr1", "pr200", "pr201", "pr0", "pr01", "prx", "pr")] == [
        1,
        200,
        None,
        None,
        None,
        None,
        None,
    ]


def test_items_are_ordered_by_n_which_need_not_be_contiguous():
    event = normalize_gtag({"en": "view_item_list", "pr10": "idC", "pr2": "idB", "pr1": "idA", "pr3": ""})
    assert [item["item_id"] for item in event["items"]] == ["A", "B", "C"]


def test_out_of_range_item_keys_are_kept_verbatim():
    event = normalize_gtag({"en": "x", "pr0": "idZ", "pr201": "idY"})
    assert "items" not in event
    assert event["x-ga-mp2-pr0"] == "idZ" and event["x-ga-mp2-pr201"] == "idY"

"""Cookie keeper decisions (acceptance F2 items 3 and 5, ../shared/reference §2.2):

- absent + stored → restored with the same value, ``Secure; SameSite=Lax; Path=/;
  Domain=<eTLD+1>; Max-Age=<per cookie>``, not HttpOnly (stape-io/cookie-restore-tag
  ``template.js``: ``domain=auto; path=/; SameSite=Lax; Secure; HttpOnly=false``);
- present → never overwritten; ad_storage denied → no ad cookie restored or stored;
  analytics_storage denied or no FPID → nothing; ``restore_only`` writes nothing;
- hostile values (stored or sent) dropped; a failing or slow store never fails the hit.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping

import pytest

from shared.collect_app import CollectConfig, Collector, HttpRequest
from shared.first_party import cookie_keeper as ck
from tests.recording import RecordingPublisher

NOW = 1_800_000_000.0
FBP = "fb.1.1700000000000.1234567890"
GA = "GA1.1.111.222"
FPID = "FPID2.2.111.222"
KEEP = ck.KeeperConfig(mode="keep")
SALT = "test-salt-0123456789abcdef"
HOST = {"host": "metrics.shop.example.co.uk"}
HIT = "v=2&tid=G-TEST&cid=111.222&en=page_view&dl=https%3A%2F%2Fshop.example.co.uk%2F"


def decide(jar, record=None, config=KEEP, ad=False, analytics=False):
    return ck.decide(config, jar, record, ad_denied=ad, analytics_denied=analytics, now=NOW)


def test_absent_stored_cookie_is_restored_with_its_value_and_per_cookie_max_age():
    plan = decide({"FPID": FPID}, ck.Record({"_fbp": FBP, "_ga": GA}, NOW + 399 * 86400))
    assert plan.restored == {"_fbp": FBP, "_ga": GA}
    assert {r.name: r.max_age for r in plan.restore} == {"_fbp": 90 * 86400, "_ga": 400 * 86400}
    headers = ck.restore_headers(plan, "shop.example.co.uk")
    assert f"_fbp={FBP}; Max-Age=7776000; Path=/; Domain=shop.example.co.uk; Secure; SameSite=Lax" in headers
    assert all("HttpOnly" not in header for header in headers)


def test_present_cookie_is_never_overwritten_and_is_stored():
    plan = decide({"FPID": FPID, "_fbp": "fb.1.1700000000001.42"}, ck.Record({"_fbp": FBP}, NOW))
    assert plan.restore == ()
    assert plan.write == {"_fbp": "fb.1.1700000000001.42"}
    # Even a present value we would not store is left alone (not replaced by the stored one).
    assert decide({"FPID": FPID, "_fbp": "bad value;"}, ck.Record({"_fbp": FBP}, NOW)).restore == ()


def test_ad_storage_denied_restores_and_stores_no_ad_cookie():
    record = ck.Record({"_fbp": FBP, "_gcl_au": "1.1.5.6", "_ga": GA}, NOW + 399 * 86400)
    plan = decide({"FPID": FPID, "_fbc": "fb.1.1700000000000.abc"}, record, ad=True)
    assert plan.restored == {"_ga": GA}
    assert plan.write == {"_ga": GA}  # the stored ad cookies are dropped from the record


def test_analytics_denied_or_no_master_id_does_nothing():
    record = ck.Record({"_fbp": FBP}, NOW)
    assert decide({"FPID": FPID}, record, analytics=True) == ck.NOTHING
    assert decide({"_fbp": FBP}, record) == ck.NOTHING
    assert decide({"FPID": "not-an-fpid"}, record) == ck.NOTHING
    assert decide({"FPID": FPID}, record, config=ck.KeeperConfig()) == ck.NOTHING  # off


def test_restore_only_writes_nothing():
    config = ck.KeeperConfig(mode="restore_only")
    plan = decide({"FPID": FPID, "_ga": GA}, ck.Record({"_fbp": FBP}, NOW), config=config)
    assert plan.restored == {"_fbp": FBP}
    assert plan.write is None
    assert decide({"FPID": FPID, "_ga": GA}, None, config=config).write is None


def test_invalid_stored_values_and_unconfigured_names_are_dropped():
    stored = {
        "_fbp": "x" * 501,
        "_fbc": "a;b",
        "_ttp": "",
        "_scid": 12,
        "session": "abc",
        "_ga_ABC123": "GS1.1.1",
        "_ga_bad-id": "GS1",
    }
    plan = decide({"FPID": FPID}, ck.Record(stored, NOW))
    assert plan.restored == {"_ga_ABC123": "GS1.1.1"}
    assert plan.write == {"_ga_ABC123": "GS1.1.1"}


def test_stream_cookies_are_bounded():
    jar = {"FPID": FPID, **{f"_ga_S{i}": "GS1.1.1" for i in range(20)}}
    assert len(decide(jar).write or {}) == ck.MAX_STREAM_COOKIES


def test_unchanged_record_is_rewritten_only_when_its_ttl_ran_down():
    fresh = ck.Record({"_ga": GA}, NOW + 400 * 86400 - 60)
    assert decide({"FPID": FPID, "_ga": GA}, fresh).write is None
    old = ck.Record({"_ga": GA}, NOW + 300 * 86400)
    assert decide({"FPID": FPID, "_ga": GA}, old).write == {"_ga": GA}
    assert decide({"FPID": FPID}, None).write is None  # nothing to store


def test_configured_subset_and_settings_validation(monkeypatch):
    monkeypatch.setenv("COOKIE_KEEPER", "keep")
    monkeypatch.setenv("COOKIE_KEEPER_COOKIES", "_fbp,_ga_*")
    config = ck.KeeperConfig.from_env()
    assert [c.name for c in config.cookies] == ["_fbp", "_ga_"]
    assert decide({"FPID": FPID}, ck.Record({"_fbp": FBP, "_ga": GA}), config=config).restored == {"_fbp": FBP}
    monkeypatch.setenv("COOKIE_KEEPER_COOKIES", "_nope")
    with pytest.raises(ValueError, match="unknown _nope"):
        ck.KeeperConfig.from_env()
    with pytest.raises(ValueError, match="COOKIE_KEEPER must be"):
        ck.KeeperConfig(mode="on")
    assert ck.KeeperConfig(mode="keep", ttl_days=900).ttl_days == 400


def test_document_id_is_salted_sha256_of_the_master_id():
    assert ck.document_id(b"salt", "111.222") == hashlib.sha256(b"salt111.222").hexdigest()


# -- through collect, with an in-memory store standing in for Firestore ---------------------


class MemoryStore:
    def __init__(self, fail: Exception | None = None, delay: float = 0.0) -> None:
        self.records: dict[str, ck.Record] = {}
        self.fail, self.delay = fail, delay

    async def get(self, key: str) -> ck.Record | None:
        await asyncio.sleep(self.delay)
        if self.fail:
            raise self.fail
        return self.records.get(key)

    async def put(self, key: str, cookies: Mapping[str, str], expire_at: float) -> None:
        self.records[key] = ck.Record(dict(cookies), expire_at)

    async def delete(self, key: str) -> None:
        self.records.pop(key, None)


def hit(store: MemoryStore, cookie: str, query: str = HIT, mode: str = "keep", **config):
    keeper = ck.CookieKeeper(ck.KeeperConfig(mode=mode, timeout_seconds=0.2), store)
    publisher = RecordingPublisher()
    collector = Collector(publisher, CollectConfig(cookie_keeper_salt=SALT, **config), keeper=keeper)
    headers = {**HOST, "cookie": cookie} if cookie else HOST
    response = asyncio.run(collector.handle(HttpRequest("POST", "/g/collect", query, headers, b"")))
    assert response.status == 204, response.body
    return response, publisher.events


def test_collect_stores_then_restores_and_copies_into_the_event():
    store = MemoryStore()
    hit(store, f"FPID={FPID}; _fbp={FBP}")
    key = ck.document_id(SALT.encode(), "111.222")
    assert store.records[key].cookies == {"_fbp": FBP}
    response, events = hit(store, f"FPID={FPID}")
    restored = [c for c in response.cookies if c.startswith("_fbp=")]
    assert restored == [f"_fbp={FBP}; Max-Age=7776000; Path=/; Domain=example.co.uk; Secure; SameSite=Lax"]
    assert events[0]["cookies"] == {"_fbp": FBP}
    # ad_storage denied (gcs G1 + ad 0 + analytics 1): nothing restored, the ad cookie unstored.
    response, events = hit(store, f"FPID={FPID}", HIT + "&gcs=G101")
    assert not [c for c in response.cookies if c.startswith("_fbp=")]
    assert "cookies" not in events[0]
    assert key not in store.records


def test_collect_with_server_cookies_reissues_the_restored_value_once():
    store = MemoryStore()
    hit(store, f"FPID={FPID}; _fbp={FBP}", server_cookies=("meta",))
    response, events = hit(store, f"FPID={FPID}", server_cookies=("meta",))
    fbp = [c for c in response.cookies if c.startswith("_fbp=")]
    assert len(fbp) == 1 and fbp[0].startswith(f"_fbp={FBP};")
    assert events[0]["cookies"]["_fbp"] == FBP


@pytest.mark.parametrize("store", [MemoryStore(fail=RuntimeError("down")), MemoryStore(delay=1.0)])
def test_a_failing_or_slow_store_never_fails_the_hit(store, capsys):
    response, events = hit(store, f"FPID={FPID}; _fbp={FBP}")
    assert len(events) == 1
    assert store.records == {}
    log = capsys.readouterr()
    text = log.out + log.err
    assert "cookie keeper skipped" in text and "111.222" not in text and FBP not in text


def test_a_lookup_that_times_out_still_finishes_and_warms_the_store():
    # A new instance's first read opens the Firestore connection and may miss the budget: that
    # hit is served without the keeper, but the read carries on so the next hit finds it warm.
    class FirstReadSlow(MemoryStore):
        def __init__(self) -> None:
            super().__init__()
            self.finished = 0

        async def get(self, key: str) -> ck.Record | None:
            await asyncio.sleep(0.3 if self.finished == 0 else 0.0)
            self.finished += 1
            return self.records.get(key)

    async def scenario() -> tuple[bool, bool, int]:
        store = FirstReadSlow()
        keeper = ck.CookieKeeper(ck.KeeperConfig(mode="keep", timeout_seconds=0.1), store)
        _, first_ok = await keeper.lookup("k")
        await asyncio.sleep(0.4)
        _, second_ok = await keeper.lookup("k")
        return first_ok, second_ok, store.finished

    assert asyncio.run(scenario()) == (False, True, 2)


def test_restore_only_through_collect_writes_nothing():
    store = MemoryStore()
    key = ck.document_id(SALT.encode(), "111.222")
    store.records[key] = ck.Record({"_ga": GA}, NOW)
    response, _ = hit(store, f"FPID={FPID}; _fbp={FBP}", mode="restore_only")
    assert any(c.startswith(f"_ga={GA};") for c in response.cookies)
    assert store.records[key].cookies == {"_ga": GA}


def test_keeper_on_without_a_salt_fails_at_start():
    from shared import collect_secrets

    with pytest.raises(ValueError, match="COOKIE_KEEPER_SALT"):
        collect_secrets.from_env(CollectConfig(cookie_keeper=KEEP))

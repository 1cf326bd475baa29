"""The inspector page in a real headless Chromium, over the real local stack.

Collect, every enabled vendor function and the Pub/Sub emulator run as in `make run`; the
webhook vendor posts to a real HTTP server that accepts page views, refuses purchases (400)
and fails add_to_cart for good (503), so the page must show delivered, rejected and, through
the dead-letter topic, dead-lettered outcomes, while vendors without credentials run dry.
One hit is sent in debug mode: collect answers with its events, the page marks it and never
shows the token.
"""

from __future__ import annotations

import dataclasses
import json
import urllib.parse

import pytest
import requests
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from devstack import config as stack_config
from devstack.config import RetryPolicy
from devstack.inspector import Inspector
from devstack.mock_vendor import MockVendor, Received, Reply
from devstack.stack import LocalStack
from tests.stackutil import delivery_lines

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.timeout(600)]

DEBUG_TOKEN = "test-debug-token-not-a-secret"
WAIT = 90  # seconds: generous, a loaded 2-core machine runs five JVM/Python processes here

# The page's rows as data: what a user sees, read from the DOM in one round trip.
READ_ROWS = """
return [...document.querySelectorAll('#hit-list .hit-row')].map(row => ({
  id: row.dataset.hitId,
  orphan: row.classList.contains('orphan'),
  debug: [...row.querySelectorAll('.row-head .badge.debug')].map(b => b.textContent),
  events: [...row.querySelectorAll('.row-event')].map(ev => ({
    name: ev.querySelector('.event-name').textContent,
    event_id: ev.dataset.eventId,
    vendors: Object.fromEntries([...ev.querySelectorAll('[data-vendor]')].map(b => [b.dataset.vendor, b.dataset.outcome])),
  })),
}));
"""

# The details panel as data. The page re-renders the list and the details whenever the stack
# reports something (a late retry, a dead letter), so a WebElement held across two calls may
# be stale: the test reads the DOM in one script and clicks through `_click`.
READ_DETAIL = """
const panel = document.getElementById('detail');
return {
  text: panel.innerText,
  cards: [...panel.querySelectorAll('.event-card')].map(card => ({
    event_id: card.dataset.eventId,
    client_id: (card.querySelector('.client-id') || {}).textContent,
    vendors: [...card.querySelectorAll('tr.vendor-row')].map(r => r.dataset.vendor),
    exchanges: [...card.querySelectorAll('details')].filter(d => d.open && d.querySelector('.exchange'))
      .map(d => d.querySelector('.exchange').innerText),
  })),
};
"""


def _click(browser, by: str, selector: str) -> None:
    """Click the element, finding it again if a re-render replaced it between find and click."""
    WebDriverWait(browser, 30, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda b: b.find_element(by, selector).click() or True
    )


def _select(browser, element_id: str, value: str) -> None:
    """Choose an option of a filter, whose options the page may rebuild at any moment."""
    WebDriverWait(browser, 30, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda b: Select(b.find_element(By.ID, element_id)).select_by_value(value) or True
    )


def _detail(browser) -> dict:
    return browser.execute_script(READ_DETAIL)


def _webhook_reply(request: Received) -> Reply | None:
    name = (request.json() or {}).get("event_name")
    if name == "purchase":
        return Reply(400, {"error": "invalid_purchase", "detail": "test vendor refuses purchases"})
    if name == "add_to_cart":
        return Reply(503, {"error": "unavailable"})
    return None  # the default: 200


def _send(stack: LocalStack, hit: dict, **headers: str) -> requests.Response:
    response = requests.request(
        hit["method"],
        f"{stack.collect_url}{hit['path']}?{hit['query']}",
        data=hit["body"].encode(),
        headers={"Content-Type": "text/plain;charset=UTF-8", **headers},
        timeout=30,
    )
    assert response.status_code in (200, 204), response.text
    return response


def _names(hit: dict) -> list[str]:
    query = dict(urllib.parse.parse_qsl(hit["query"]))
    lines = [line for line in hit["body"].splitlines() if line.strip()]
    return [dict(urllib.parse.parse_qsl(line)).get("en", query.get("en")) for line in lines] or [query["en"]]


def _settled_row(browser, names: list[str], vendors: list[str], webhook_outcome: str):
    """The row whose events are ``names``, once every vendor's outcome is on it."""

    def find(_):
        for row in browser.execute_script(READ_ROWS):
            events = row["events"]
            if row["orphan"] or sorted(e["name"] for e in events) != sorted(names):
                continue
            if all(
                sorted(e["vendors"]) == sorted(vendors)
                and "pending" not in e["vendors"].values()
                and e["vendors"]["webhook"] == webhook_outcome
                for e in events
            ):
                return row
        return None

    return WebDriverWait(browser, WAIT, poll_frequency=0.25).until(
        find,
        message=f"no settled row for {names} with webhook {webhook_outcome}; rows: {browser.execute_script(READ_ROWS)}",
    )


def _visible_ids(browser) -> set[str]:
    return {row["id"] for row in browser.execute_script(READ_ROWS)}


def _wait_visible(browser, expected: set[str]) -> None:
    WebDriverWait(browser, 30, poll_frequency=0.1).until(
        lambda _: _visible_ids(browser) == expected,
        message=f"expected rows {expected}, page shows {_visible_ids(browser)}",
    )


def _last_outcomes(log_path, event_ids: set[str]) -> dict[str, str]:
    outcomes = {}
    for line in delivery_lines(log_path):
        if line.get("event_id") in event_ids:
            outcomes[line["event_id"]] = line["outcome"]
    return outcomes


def test_a_hit_flows_through_every_vendor_on_the_page(browser, artifacts_dir, sample_hits):
    config = stack_config.load()
    # Fast retries, so that a failing event reaches the dead-letter topic within the test.
    config = dataclasses.replace(config, local_retry=RetryPolicy(5, 0, 1))
    # The webhook ships disabled (it forwards personal data as is); the page shows it too.
    vendors = ["webhook"] + [v.name for v in config.enabled_vendors() if v.name != "webhook"]
    batch, purchase, cart = sample_hits[8], sample_hits[6], sample_hits[2]
    assert _names(batch) == ["page_view", "scroll"] and _names(purchase) == ["purchase"]
    assert _names(cart) == ["add_to_cart"]

    with MockVendor() as target:
        target.responder = _webhook_reply
        vendor_env = {name: {"LOG_REQUESTS": "1"} for name in vendors}
        vendor_env["webhook"]["WEBHOOK_URL"] = target.url + "/events"
        collect_env = {"LOG_HITS": "1", "DEBUG_TOKEN": DEBUG_TOKEN}
        with (
            LocalStack(config, vendors=tuple(vendors), collect_env=collect_env, vendor_env=vendor_env) as stack,
            Inspector.for_stack(stack) as inspector,
        ):
            browser.get(inspector.page_url)
            assert browser.title == "Tagging inspector"
            WebDriverWait(browser, 30).until(
                lambda b: b.find_element(By.ID, "connection").get_attribute("data-state") == "live"
            )
            assert browser.find_element(By.ID, "empty").is_displayed()

            # A real two-event batch: both events, every vendor's outcome, live.
            _send(stack, batch)
            batch_row = _settled_row(browser, ["page_view", "scroll"], vendors, "delivered")
            for event in batch_row["events"]:
                for vendor in vendors:
                    assert event["vendors"][vendor] != "pending"
            # What the page says is what the vendors logged.
            batch_ids = {e["event_id"] for e in batch_row["events"]}
            assert len(batch_ids) == 2 and "" not in batch_ids
            for vendor in vendors:
                logged = _last_outcomes(stack.log_path(f"vendor-{vendor}"), batch_ids)
                shown = {e["event_id"]: e["vendors"][vendor] for e in batch_row["events"]}
                assert logged == shown, vendor

            # The details: raw hit, events, the webhook's request and the vendor's answer.
            _click(browser, By.CSS_SELECTOR, f'[data-hit-id="{batch_row["id"]}"]')
            WebDriverWait(browser, 30).until(lambda b: len(_detail(b)["cards"]) == 2)
            detail = _detail(browser)
            assert {c["event_id"] for c in detail["cards"]} == batch_ids
            assert "Raw hit" in detail["text"] and "G-XXXXX" in detail["text"]  # the query's tid
            for card in detail["cards"]:
                assert sorted(card["vendors"]) == sorted(vendors)
                assert card["client_id"] == "00000.000000"
            # The page keeps a <details> the user opened across re-renders.
            first_card = detail["cards"][0]["event_id"]
            _click(
                browser,
                By.XPATH,
                f'//section[@data-event-id="{first_card}"]'
                "//details[summary[contains(., 'request, response')]][summary//strong[text()='webhook']]/summary",
            )
            exchange = WebDriverWait(browser, 30).until(lambda b: _detail(b)["cards"][0]["exchanges"])[0]
            assert target.url + "/events" in exchange
            assert '"status": 200' in exchange

            # A refused purchase, and an add_to_cart the vendor keeps failing.
            _send(stack, purchase)
            purchase_row = _settled_row(browser, ["purchase"], vendors, "rejected")
            # ... sent in debug mode: the token never reaches the page.
            debug_answer = _send(stack, cart, **{"X-Tagging-Debug": DEBUG_TOKEN}).json()
            assert debug_answer["debug"] is True
            assert [e["event_name"] for e in debug_answer["events"]] == ["add_to_cart"]
            cart_row = _settled_row(browser, ["add_to_cart"], vendors, "dead_lettered")
            assert cart_row["debug"] == ["debug"]
            everything = {batch_row["id"], purchase_row["id"], cart_row["id"]}
            assert _visible_ids(browser) == everything
            # Dead-lettered is confirmed by the dead-letter topic, not only the vendor's log.
            # The row may be re-rendered (the dead letter arriving) between find and click.
            _click(browser, By.CSS_SELECTOR, f'[data-hit-id="{cart_row["id"]}"]')
            WebDriverWait(browser, WAIT).until(
                lambda b: "in the dead-letter topic" in _detail(b)["text"], message="no dead letter on the page"
            )
            # The inspector reads its own subscription: make replay's is left intact.
            left_for_replay = stack.topology.pull_dead_letters(ack=False)
            assert [json.loads(m.data)["event_name"] for m in left_for_replay] == ["add_to_cart"]

            # Filters: outcome, vendor + outcome, event name; search by client_id and event_id.
            _select(browser, "filter-outcome", "rejected")
            _wait_visible(browser, {purchase_row["id"]})
            _select(browser, "filter-vendor", "webhook")
            _select(browser, "filter-outcome", "delivered")
            _wait_visible(browser, {batch_row["id"]})
            _click(browser, By.ID, "filter-clear")
            _wait_visible(browser, everything)
            _select(browser, "filter-event", "scroll")
            _wait_visible(browser, {batch_row["id"]})
            _click(browser, By.ID, "filter-clear")
            search = browser.find_element(By.ID, "filter-search")  # an input the page never replaces
            search.send_keys("1220643501")  # the purchase's client_id
            _wait_visible(browser, {purchase_row["id"]})
            search.clear()
            search.send_keys(sorted(batch_ids)[0])
            _wait_visible(browser, {batch_row["id"]})
            _click(browser, By.ID, "filter-clear")
            _wait_visible(browser, everything)

            _click(browser, By.CSS_SELECTOR, f'[data-hit-id="{batch_row["id"]}"]')
            assert DEBUG_TOKEN not in browser.page_source
            assert (
                DEBUG_TOKEN
                not in requests.get(inspector.url + "api/state", params={"token": inspector.token}, timeout=10).text
            )
            screenshot = artifacts_dir / "inspector.png"
            assert browser.save_screenshot(str(screenshot))
            print(f"screenshot: {screenshot}")
    assert screenshot.stat().st_size > 10_000

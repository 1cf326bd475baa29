"""make run's local archive over the real emulator: one row per published event, the
normalized event whole in ``data``, and the columns of the BigQuery archive's schema."""

from __future__ import annotations

import json

import pytest
import requests

from devstack import config as stack_config
from devstack.archive import ArchiveWriter, schema_problems
from devstack.stack import LocalStack
from reliability.accounting import read_json_lines
from tests.stackutil import wait_until

pytestmark = pytest.mark.integration


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_each_hit_event_lands_in_the_archive_with_every_key(tmp_path):
    archive_file = tmp_path / "archive" / "events.jsonl"
    with LocalStack(stack_config.load(), vendors=(), collect_env={"LOG_HITS": "1"}) as stack:
        with ArchiveWriter(stack.project, archive_file) as archive:
            single = requests.post(
                f"{stack.collect_url}/g/collect?v=2&tid=G-TEST&cid=11.22&uid=user-9&en=purchase"
                "&dl=https%3A%2F%2Fshop.example%2Fthanks%3Futm_source%3Dnews&dt=Thanks&cu=EUR&epn.value=12.5"
                "&ep.transaction_id=T-1&pr1=idSKU1~nmShirt~pr12.5~qt1&up.plan=pro&ep.custom_thing=x&gcs=G111",
                timeout=10,
            )
            batch = requests.post(
                f"{stack.collect_url}/g/collect?v=2&tid=G-TEST&cid=33.44&dl=https%3A%2F%2Fshop.example%2F",
                data="en=page_view\nen=scroll&epn.percent_scrolled=90\nen=sign_up&ep.method=email",
                headers={"Content-Type": "text/plain"},
                timeout=10,
            )
            assert (single.status_code, batch.status_code) == (204, 204)
            rows = wait_until(lambda: len(_rows(archive_file)) >= 4 and _rows(archive_file), timeout=20)
            assert archive.written == 4
        hits = [r for r in read_json_lines([stack.log_path("collect")]) if r.get("message") == "hit"]
    published = [n for hit in hits for n in hit.get("normalized", [])]
    assert len(published) == 4 and len(rows) == 4
    by_id = {row["data"]["event_id"]: row for row in rows}
    for item in published:
        row = by_id[item["event"]["event_id"]]
        assert row["data"] == item["event"], "the archive must hold the normalized event whole"
        assert row["attributes"] == item["attributes"]
        assert schema_problems(row) == []
    assert len({row["message_id"] for row in rows}) == 4
    assert by_id[published[0]["event"]["event_id"]]["data"]["custom_thing"] == "x"

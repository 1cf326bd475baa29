"""`make run` echoes log lines to the terminal without the inspector-only detail."""

from __future__ import annotations

import json

from devstack.__main__ import terminal_line


def test_hit_lines_lose_raw_and_normalized():
    line = json.dumps({"message": "hit", "status": 204, "raw": {"query": "v=2"}, "normalized": [{}]}) + "\n"
    assert json.loads(terminal_line(line)) == {"message": "hit", "status": 204}


def test_dry_runs_keep_their_request_other_deliveries_do_not():
    dry = {"message": "delivery", "outcome": "dry_run", "request": {"url": "https://x/"}}
    sent = {
        "message": "delivery",
        "outcome": "delivered",
        "request": {"url": "https://x/"},
        "response": {"status": 200},
    }
    assert json.loads(terminal_line(json.dumps(dry) + "\n")) == dry
    assert json.loads(terminal_line(json.dumps(sent) + "\n")) == {"message": "delivery", "outcome": "delivered"}


def test_other_lines_are_echoed_as_they_are():
    for line in (" * Serving Flask app 'collect'\n", "{not json\n", '{"message":"publish failed"}\n'):
        assert terminal_line(line) == line

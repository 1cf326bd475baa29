"""``bot`` and ``bot_reason`` from the user agent, with maintained pattern lists.

Three sources, first match wins, each with its own reason code:

* ``empty_user_agent`` — a browser hit without a ``User-Agent`` (no browser sends none);
* ``crawlerdetect:<match>`` — `crawlerdetect` (JayBizzle/Crawler-Detect's patterns: Googlebot,
  bingbot, HeadlessChrome, curl, python-requests, ...), ``<match>`` the matched token, lower-case;
* ``crawler_user_agents`` — monperrus/crawler-user-agents' list (`crawler-user-agents`);
* ``ua_parser:spider`` — uap-core classifies the device as ``Spider`` (`ua-parser`);
* ``iab_list`` — a line of the optional ``BOT_LIST_FILE`` (e.g. a licensed IAB/ABC list, one
  case-insensitive substring per line) occurs in the user agent.

Results are cached per user agent (a site sees few distinct ones), so a warm hit costs a dict
lookup; the libraries are imported on first use, not at cold start.
"""

from __future__ import annotations

import functools
import os
import threading
from typing import Any

_MAX_USER_AGENT_CHARS = 512
_lock = threading.Lock()
_detectors: dict[str, Any] = {}


def _crawlerdetect() -> Any:
    with _lock:
        if "cd" not in _detectors:
            from crawlerdetect import CrawlerDetect  # type: ignore[import-untyped]

            _detectors["cd"] = CrawlerDetect()
        return _detectors["cd"]


@functools.lru_cache(maxsize=1)
def _iab_patterns(path: str) -> tuple[str, ...]:
    if not path:
        return ()
    with open(path, encoding="utf-8") as handle:
        return tuple(line.strip().lower() for line in handle if line.strip() and not line.startswith("#"))


@functools.lru_cache(maxsize=4096)
def _classify(user_agent: str) -> tuple[bool, str]:
    user_agent = user_agent.strip()[:_MAX_USER_AGENT_CHARS]
    if not user_agent:
        return True, "empty_user_agent"
    detector = _crawlerdetect()
    with _lock:  # CrawlerDetect keeps the last match on the instance
        if detector.isCrawler(user_agent):
            match = (detector.getMatches() or "crawler").strip().lower().replace(" ", "_")[:40]
            return True, f"crawlerdetect:{match}"
    import crawleruseragents  # type: ignore[import-untyped]

    if crawleruseragents.is_crawler(user_agent):
        return True, "crawler_user_agents"
    import ua_parser

    device = ua_parser.parse_device(user_agent)
    if device is not None and device.family == "Spider":
        return True, "ua_parser:spider"
    lowered = user_agent.lower()
    if any(pattern in lowered for pattern in _iab_patterns(os.environ.get("BOT_LIST_FILE", ""))):
        return True, "iab_list"
    return False, ""


def classify(user_agent: str | None, browser: bool = True) -> tuple[bool, str]:
    """``(bot, reason)`` for a user agent. ``browser=False`` (server-to-server events, which
    carry no visitor user agent of their own) does not count a missing one as a bot."""
    if not user_agent:
        return (True, "empty_user_agent") if browser else (False, "")
    # Cached on the header as received: a warm hit is one dict lookup.
    return _classify(user_agent)

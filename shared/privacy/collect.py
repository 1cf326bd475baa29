"""What collect does to every event before it publishes it (one call, :func:`prepare`).

* ``bot`` / ``bot_reason`` (:mod:`shared.privacy.bots`), so every vendor can gate on them;
* the global IP truncation (``IP_TRUNCATION`` = ``standard`` / ``strict``, from
  ``privacy.ip_truncation`` in config/vendors.yaml): Pub/Sub, the archive and every log line
  then only ever hold the truncated address. Geo comes from the load balancer's headers,
  which are read before this (shared.ga4.context), so truncation never costs geo.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from shared.privacy import anonymize, bots

# The visitor's address (shared.ga4.context) and a browser hit's own ``_uip``, kept aside.
IP_KEYS = ("ip_override", "x-ga-mp2-_uip")


@dataclass(frozen=True)
class CollectPrivacy:
    ip_truncation: str = ""

    @classmethod
    def from_env(cls) -> CollectPrivacy:
        """Read and validate ``IP_TRUNCATION``; a wrong value stops collect at start-up."""
        mode = os.environ.get("IP_TRUNCATION", "").strip().lower()
        if mode not in anonymize.IP_SETTING_VALUES:
            raise ValueError(f"IP_TRUNCATION must be one of {list(anonymize.IP_MODES)} or none, got {mode!r}")
        return cls(mode if mode != "none" else "")

    def prepare(self, events: Iterable[dict[str, Any]]) -> None:
        """Flag bots and truncate IPs in place, on events about to be published."""
        for event in events:
            browser = event.get("source") != "mp"
            event["bot"], event["bot_reason"] = bots.classify(event.get("user_agent"), browser)
            if not self.ip_truncation:
                continue
            for key in IP_KEYS:
                if event.get(key):
                    truncated = anonymize.truncate_ip(str(event[key]), self.ip_truncation)
                    if truncated is None:
                        event.pop(key)
                    else:
                        event[key] = truncated

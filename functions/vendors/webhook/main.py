"""Webhook: POST each normalized event as JSON to ``WEBHOOK_URL``. Entry point ``deliver``.

The simplest vendor, and the template for the others: a declaration and a pure mapping.
Without ``WEBHOOK_URL`` it runs dry and logs the exact request it would send.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import JSONResponse

from shared.delivery import Vendor, VendorRequest, consent_policy, entry


def build_request(event: dict[str, Any], settings: Mapping[str, str]) -> VendorRequest:
    """The whole normalized event, as JSON, to the configured URL."""
    return VendorRequest(
        method="POST",
        url=settings.get("URL") or "https://webhook.invalid/",
        headers={"Content-Type": "application/json"},
        json=event,
    )


# Analytics, not advertising: the event goes only where analytics_storage is not denied
# (WEBHOOK_CONSENT_SEND overrides; docs/vendors/README.md "Consent").
VENDOR = Vendor(
    name="webhook",
    build_request=build_request,
    setting_names=("URL",),
    required_settings=("URL",),
    consent=consent_policy.ANALYTICS,
)


@functions_framework.aio.http
async def deliver(request: Request) -> JSONResponse:
    """Pub/Sub push endpoint (2xx acks, anything else retries); ``POST /drain`` in batch mode."""
    return await entry.serve(VENDOR, request)

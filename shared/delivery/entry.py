"""The HTTP face of a vendor function (Starlette, served by functions-framework's ``aio``).

``POST /`` (any path but ``/drain``): a Pub/Sub push; 2xx acks, anything else makes Pub/Sub
retry. ``POST /drain``: batch mode, called by the scheduler; drains ``DRAIN_SUBSCRIPTION``
(404 with a JSON reason when the function is not in batch mode).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse

from shared.delivery import drain

if TYPE_CHECKING:
    from shared.delivery.vendor import Vendor


async def serve(vendor: Vendor, request: Request) -> JSONResponse:
    """Route one request of a vendor function."""
    if request.url.path.rstrip("/").endswith("/drain"):
        if request.method != "POST":
            return JSONResponse({"error": "method_not_allowed", "detail": "POST /drain"}, status_code=405)
        subscription = drain.subscription_path()
        if not subscription:
            return JSONResponse(
                {
                    "error": "drain_not_configured",
                    "detail": "DRAIN_SUBSCRIPTION is not set: this vendor is in push mode",
                },
                status_code=404,
            )
        return JSONResponse(await drain.drain(vendor, subscription))
    status, payload = await vendor.ahandle_push(await request.body(), request.headers)
    return JSONResponse(payload, status_code=status)

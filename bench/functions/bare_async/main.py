"""The runtime's async ceiling: an ``aio`` functions-framework function that only answers 204."""

import functions_framework.aio
from starlette.responses import Response


@functions_framework.aio.http
async def bare(request):
    """Read nothing, do nothing: what the async (uvicorn) runtime costs per request."""
    return Response(status_code=204)

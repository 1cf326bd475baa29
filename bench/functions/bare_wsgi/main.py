"""The runtime's WSGI ceiling: a functions-framework function that only answers 204."""

import functions_framework


@functions_framework.http
def bare(request):
    """Read nothing, do nothing: what the default (gunicorn, threads) runtime costs per request."""
    return "", 204

"""The GA4 hits the benchmark sends: what gtag.js sends for a page view and for a batch."""

from __future__ import annotations

from urllib.parse import quote

# Shared parameters of a gtag.js request (protocol v2), as a real page sends them.
_SHARED = (
    "v=2&tid=G-BENCH00001&gtm=45je4bk0v9&_p=1700000000000&gcs=G111&gcd=13l3l3l3l1l1&npa=0&dma=0"
    "&cid=1234567890.1700000000&ul=en-us&sr=1920x1080&uaa=x86&uab=64&uafvl=Chromium%3B120.0.0.0"
    "&uamb=0&uap=Linux&uapv=6.5.0&uaw=0&are=1&frm=0&pscdl=noapi&_s=1&sid=1700000000&sct=3&seg=1"
    "&dl="
    + quote("https://shop.example.com/products/widget?utm_source=newsletter", safe="")
    + "&dr="
    + quote("https://www.example.com/", safe="")
    + "&dt="
    + quote("Widget | Example Shop", safe="")
)

COLLECT_PATH = "/g/collect"

# One event in the URL, empty body: the most common hit (a page view).
ONE_EVENT_QUERY = _SHARED + "&en=page_view&_ee=1&tfd=1234"


def _batch_line(index: int) -> str:
    return (
        f"en=view_item&_et={100 + index}&ep.item_list_name=related&epn.value={19.99 + index:.2f}"
        f"&ep.currency=EUR&pr1=idSKU{index:04d}~nmWidget%20{index}~pr19.99~qt1~caTools"
    )


# Ten events in the body, one per line, sharing the URL's parameters: a batched hit.
BATCH_QUERY = _SHARED + "&tfd=5678"
BATCH_BODY = "\r\n".join(_batch_line(i) for i in range(10)).encode()

PAYLOADS = {
    "1-event": (ONE_EVENT_QUERY, b"", 1),
    "10-event": (BATCH_QUERY, BATCH_BODY, 10),
}

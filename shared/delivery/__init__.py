"""The vendor delivery runtime: everything a vendor function shares.

A vendor function declares a :class:`~shared.delivery.vendor.Vendor` (its name, settings,
secrets, event mapping, required consent and a pure mapping from the normalized event to a
:class:`~shared.delivery.vendor.VendorRequest`); the runtime decodes the Pub/Sub push, gates
the event, sends, classifies the response and logs one line per attempt.
See docs/vendors/README.md.
"""

from shared.delivery.outcome import Outcome
from shared.delivery.vendor import (
    VENDOR_MISCONFIGURED,
    Attempt,
    Plan,
    Reject,
    Skip,
    Vendor,
    VendorRequest,
    misconfigured,
)

__all__ = [
    "VENDOR_MISCONFIGURED",
    "Attempt",
    "Outcome",
    "Plan",
    "Reject",
    "Skip",
    "Vendor",
    "VendorRequest",
    "misconfigured",
]

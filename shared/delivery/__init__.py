"""The vendor delivery runtime: everything a vendor function shares.

A vendor function declares a :class:`~shared.delivery.vendor.Vendor` (its name, settings,
secrets, event mapping, required consent and a pure mapping from the normalized event to a
:class:`~shared.delivery.vendor.VendorRequest`); the runtime decodes the Pub/Sub push, gates
the event, sends, classifies the response and logs one line per attempt.
See docs/vendors/README.md.
"""

from shared.delivery.outcome import Outcome
from shared.delivery.vendor import Attempt, Plan, Reject, Skip, Vendor, VendorRequest

__all__ = ["Attempt", "Outcome", "Plan", "Reject", "Skip", "Vendor", "VendorRequest"]

"""The vendor delivery runtime: everything a vendor function shares.

A vendor function declares a :class:`~shared.delivery.vendor.Vendor` (its name, settings and a
pure mapping from the normalized event to a :class:`~shared.delivery.vendor.VendorRequest`);
the runtime decodes the Pub/Sub push, sends, classifies the response and logs one line per
attempt.
"""

from shared.delivery.outcome import Outcome
from shared.delivery.vendor import Skip, Vendor, VendorRequest

__all__ = ["Outcome", "Skip", "Vendor", "VendorRequest"]

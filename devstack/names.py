"""The naming scheme of the Pub/Sub resources, the same locally and in Terraform (infra/).

Pure functions and constants, so log readers (accounting, the inspector) use them without a
Pub/Sub client.
"""

from __future__ import annotations

EVENTS_TOPIC = "tagging-events"
DEAD_LETTER_TOPIC = "tagging-dead-letter"
DEAD_LETTER_SUBSCRIPTION = "tagging-dead-letter-inspect"
# The attribute Pub/Sub adds to a dead-lettered message: the subscription that gave up on it.
DEAD_LETTER_SOURCE = "CloudPubSubDeadLetterSourceSubscription"


# Pub/Sub names must not start with "goog": a vendor whose name does (googleads) gets its
# subscriptions under "vendor-<name>" (Terraform does the same, modules/vendor_function).
_RESERVED_PREFIX = "goog"
_SAFE_PREFIX = "vendor-"


def _subscription_base(vendor: str) -> str:
    return f"{_SAFE_PREFIX}{vendor}" if vendor.lower().startswith(_RESERVED_PREFIX) else vendor


def vendor_subscription(vendor: str) -> str:
    return f"{_subscription_base(vendor)}-push"


def vendor_pull_subscription(vendor: str) -> str:
    """Batch mode: the pull subscription the vendor function drains."""
    return f"{_subscription_base(vendor)}-pull"


def replay_topic(vendor: str) -> str:
    """Each vendor's own replay topic: dead letters moved back reach that vendor only."""
    return f"tagging-replay-{vendor}"


def replay_subscription(vendor: str) -> str:
    return f"{_subscription_base(vendor)}-replay-push"


def vendor_of_subscription(subscription: str) -> str:
    """``projects/p/subscriptions/meta-push`` (or ``meta-replay-push``, ``meta-pull``) → ``meta``."""
    name = subscription.rsplit("/", 1)[-1]
    for suffix in ("-replay-push", "-push", "-pull"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    if name.startswith(_SAFE_PREFIX + _RESERVED_PREFIX):
        name = name[len(_SAFE_PREFIX):]
    return name

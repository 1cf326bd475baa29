"""Collect exactly as shipped, but publishing through the baseline threaded publisher.

``functions/collect/main.py`` binds ``EventPublisher`` when it is imported, so pointing
``shared.publishing.EventPublisher`` at the baseline first swaps the publisher and nothing else.
"""

import shared.publishing
from bench.baselines.threaded_publisher import ThreadedEventPublisher

shared.publishing.EventPublisher = ThreadedEventPublisher  # type: ignore[misc]

from functions.collect.main import collect  # noqa: E402,F401  (the entry point functions-framework serves)

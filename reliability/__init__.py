"""Delivery accounting, fault injection (``make chaos``), dead-letter replay, fuzzing and soak."""

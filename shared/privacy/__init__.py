"""Privacy controls an owner configures once in ``config/vendors.yaml`` (docs/privacy.md).

* :mod:`.anonymize` — IP truncation, client-id HMAC, URL shortening (pure functions);
* :mod:`.rules` — transformation rules (allow / exclude / augment): schema, order, scope and
  the load-time validation against each vendor's required keys;
* :mod:`.transform` — what one vendor receives: the per-vendor copy of an event after its rules,
  IP truncation and client-id anonymization, and the bot gate;
* :mod:`.bots` — ``bot`` / ``bot_reason`` from the user agent (crawlerdetect,
  crawler-user-agents, ua-parser), cached per user agent;
* :mod:`.collect` — what collect does before publishing (bot flags, global IP truncation).
"""

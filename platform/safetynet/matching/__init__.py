"""Partners, needs and resources (DOMAIN.md §4): need listings, matching, the event log, webhooks.

* :mod:`.needs` — publish, claim, fulfil and withdraw need listings; each change is an event.
* :mod:`.events` — the event log as readers see it: cursors, filters, scope, the listing as of an event.
* :mod:`.broadcast` — the per-process event hub and the broadcast backends (in-process, Redis).
* :mod:`.matcher` — remaining resources and the ``safetynet_match_need`` decision.
* :mod:`.webhooks` — partner webhooks: signed deliveries, retries with backoff, pausing.
* :mod:`.services` — the long-lived parts of one server process.
* :mod:`.commands` — ``safetynet match``.
"""

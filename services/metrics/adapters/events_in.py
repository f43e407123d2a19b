"""Metrics' consumer: every event of the four topics that the fold reads joins its
dossier's (or complaint's) event set, and the facts are folded again from the whole set."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from services.metrics.adapters import store
from shared.events import Envelope, EventData
from shared.rulebook import Rulebook


class MetricsConsumer:
    # The types the fold reads; the others are not decoded, nor stored.
    event_types = store.FOLDED_TYPES

    def __init__(self, rulebook: Rulebook) -> None:
        self.rulebook = rulebook

    async def __call__(self, conn: asyncpg.Connection,
                       envelopes: Sequence[Envelope[EventData]]) -> None:
        await store.add_events(conn, [store.event_row(e) for e in envelopes], self.rulebook)

"""Metrics' consumer: every event of the four topics joins its dossier's event set, and the
dossier's facts are folded again from the whole set."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from services.metrics.adapters import store
from shared.events import Envelope, EventData
from shared.rulebook import Rulebook


class MetricsConsumer:
    def __init__(self, rulebook: Rulebook) -> None:
        self.rulebook = rulebook

    async def __call__(self, conn: asyncpg.Connection,
                       envelopes: Sequence[Envelope[EventData]]) -> None:
        await store.add_events(conn, [store.event_row(e) for e in envelopes], self.rulebook)

"""Python's cyclic garbage collector, set for a long-running service (decision 0027).

With the interpreter's defaults, a collection of the youngest generation runs every 700 net
allocations, and a full one walks every object alive: the modules, the pydantic schemas and
the routes built at start-up, hundreds of thousands of objects that never become garbage. A
consumer decoding a batch of 5,000 events allocates that many objects many times over, so
the collector ran constantly and each full pass re-walked the whole start-up heap; in the
bench's consume it was about a third of the member's CPU.

At the end of start-up the heap is therefore collected once and frozen (``gc.freeze``: the
objects alive then are never walked again), and the thresholds are raised. Memory freed by
reference counting, which is nearly all of it, is unaffected; only garbage held in cycles
waits a little longer for its collection.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)

# Young generation: a collection after this many net allocations (the interpreter's 700);
# the two older ones after this many of the younger one's (its 10 and 10).
DEFAULT_THRESHOLDS = (10_000, 20, 20)


def settle_after_start_up(thresholds: tuple[int, int, int] = DEFAULT_THRESHOLDS) -> int:
    """Collect what start-up left, freeze what is alive, and set the thresholds; returns how
    many objects were frozen. Call once the process has imported and wired everything."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)
    frozen = gc.get_freeze_count()
    log.info("garbage collector settled", extra={"frozen_objects": frozen,
                                                 "thresholds": list(thresholds)})
    return frozen

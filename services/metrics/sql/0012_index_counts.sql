-- The national index's own counts per day (domain/tallies.py INDEX_COUNTS), beside the
-- figures': a dossier's flags on the day it was received or resolved, and 5.4's "early or on
-- time and not disliked" on its end day. A dossier is now live until its sync to the
-- national portal, its payment and its rating too (facts.live_span), so every fact's span
-- and contributions are counted again: the counts are emptied here, and the service counts
-- every fact at its next start, before its consumer runs (store.tally_untallied).
ALTER TABLE daily_counts
    ADD COLUMN received_synced bigint NOT NULL DEFAULT 0,
    ADD COLUMN received_digitised bigint NOT NULL DEFAULT 0,
    ADD COLUMN received_reused bigint NOT NULL DEFAULT 0,
    ADD COLUMN received_shared bigint NOT NULL DEFAULT 0,
    ADD COLUMN received_population_data bigint NOT NULL DEFAULT 0,
    ADD COLUMN received_online_whole bigint NOT NULL DEFAULT 0,
    ADD COLUMN received_paid_online bigint NOT NULL DEFAULT 0,
    ADD COLUMN resolved_electronic bigint NOT NULL DEFAULT 0,
    ADD COLUMN good_not_disliked bigint NOT NULL DEFAULT 0;
TRUNCATE daily_counts;
UPDATE facts SET tallied = false WHERE tallied;

-- The time of a dossier's second supplement request: the index's 2.1 counts it late from
-- then on (not before, when a period is judged at an earlier as_of). Filled by the refold
-- below for the dossiers already folded.
ALTER TABLE facts ADD COLUMN second_supplement_at timestamptz;
UPDATE facts f SET second_supplement_at = s.at
FROM (SELECT dossier_code, (array_agg((data ->> 'requested_at')::timestamptz
                                      ORDER BY (data ->> 'requested_at')::timestamptz))[2] AS at
      FROM dossier_events WHERE type = 'dossier.supplement_requested'
      GROUP BY dossier_code HAVING count(DISTINCT event_id) > 1) s
WHERE f.dossier_code = s.dossier_code;

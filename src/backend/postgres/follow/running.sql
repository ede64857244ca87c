-- Transactions of a snapshot taken right after the slot that are still in progress.
SELECT count(*)::text
FROM pg_snapshot_xip($1::pg_snapshot) AS x
WHERE pg_xact_status(x) = 'in progress'

SELECT pg_export_snapshot()::text,
       pg_current_snapshot()::text,
       pg_current_wal_insert_lsn()::text

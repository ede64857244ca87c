SELECT slot_name::text,
       coalesce(database::text, ''),
       active::text,
       coalesce(pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)), '')
FROM pg_replication_slots
WHERE slot_name LIKE 'rekey%'
ORDER BY slot_name

SELECT plugin::text,
       coalesce(database::text, ''),
       (database = current_database())::text,
       coalesce(confirmed_flush_lsn::text, ''),
       active::text
FROM pg_replication_slots
WHERE slot_name = $1::text

SELECT pg_replication_slot_advance(slot_name, $2::pg_lsn)
FROM pg_replication_slots
WHERE slot_name = $1::text
  AND confirmed_flush_lsn < $2::pg_lsn

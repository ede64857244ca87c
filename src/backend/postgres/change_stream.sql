SELECT current_setting('wal_level')::text,
       (current_setting('max_replication_slots')::int - (SELECT count(*) FROM pg_replication_slots)::int)::text,
       current_setting('max_replication_slots')::text,
       (r.rolreplication OR r.rolsuper)::text,
       current_user::text
FROM pg_roles r
WHERE r.rolname = current_user

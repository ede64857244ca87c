-- Who holds rekey's advisory lock ($1, $2: the two int4 halves of its key) in this database.
-- One row, or none when it was released meanwhile:
--   pid                int4   the holding backend (pg_terminate_backend ends it)
--   application_name   text   `rekey lock, pid N` for a rekey process (N: its OS process id)
--   client_addr        text   where it connected from (NULL over a Unix socket)
SELECT a.pid, a.application_name::text, host(a.client_addr) AS client_addr
FROM pg_locks l
JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory'
  AND l.granted
  AND l.classid = ($1::int4)::oid
  AND l.objid = ($2::int4)::oid
  AND l.objsubid = 2
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
LIMIT 1

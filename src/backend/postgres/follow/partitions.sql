-- The partitions of the followed tables, wherever they live: test_decoding names the partition
-- a row is in, not the partitioned table the application writes to.
SELECT n.nspname::text, c.relname::text, r.relname::text
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_class r ON r.oid = pg_partition_root(c.oid)
JOIN pg_namespace rn ON rn.oid = r.relnamespace
WHERE c.relispartition
  AND rn.nspname = $1::text
  AND r.relname = ANY ($2::text[])

SELECT lsn::text, data
FROM pg_logical_slot_peek_changes($1::text, $2::pg_lsn, $3::int,
                                  'include-xids', '1',
                                  'include-timestamp', '1',
                                  'skip-empty-xacts', '1')

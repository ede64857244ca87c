-- One table's engine and the options SHOW CREATE TABLE prints after its columns
-- (stats_auto_recalc=1, stats_persistent=0, partitioned...); the placeholder is its name as a
-- literal.
-- Setting InnoDB's automatic statistics aside for a load reads from it what to put back.
SELECT ENGINE, CREATE_OPTIONS
FROM information_schema.TABLES
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = {table}

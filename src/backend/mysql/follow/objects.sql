SELECT 'tables', COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = {schema} AND TABLE_TYPE <> 'VIEW'
UNION ALL
SELECT 'views', COUNT(*) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = {schema}
UNION ALL
SELECT 'triggers', COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = {schema}
UNION ALL
SELECT 'routines', COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = {schema}

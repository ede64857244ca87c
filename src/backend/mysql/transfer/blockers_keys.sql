-- The first rows with one problem, by primary key, to name them in the report.
SELECT {key} FROM {table} WHERE {condition} ORDER BY {key} LIMIT {limit}

-- Every row of one table, the columns by name in the order of the move (rows.rs).
SELECT {columns} FROM {table}

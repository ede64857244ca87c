-- What one table holds that a move to another engine cannot store exactly, counted in one scan:
-- {sums} is one SUM(condition) per (column, problem) (blockers.rs).
SELECT {sums} FROM {table}

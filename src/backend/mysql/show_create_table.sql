-- One table's definition as the server prints it; {table} is its quoted name. Setting secondary
-- indexes aside reads their exact lines from it (prefix lengths, USING, comments, IGNORED, order).
SHOW CREATE TABLE {table}

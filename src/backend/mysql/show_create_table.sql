-- One table's definition as the server prints it (the placeholder below is its quoted name).
-- Setting secondary indexes aside reads their exact lines from it (prefix lengths, USING,
-- comments, IGNORED, order); clone and derive-final write a converted table's CREATE from it.
SHOW CREATE TABLE {table}

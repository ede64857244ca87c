#!/usr/bin/env bash
# Prints the SQL that builds the PostgreSQL lean shape at scale $1 (default 1): one table of 1M
# narrow rows (integer key, integer references, a short char filler) and 3 small ones, foreign
# keys between them (issue 21's PostgreSQL database, where pg_dump + pg_restore is fastest).
set -euo pipefail
scale=${1:-1}
n() { awk -v a="$1" -v s="$scale" 'BEGIN { v = int(a * s); if (v < 1) v = 1; print v }'; }
owners=$(n 10000); shops=$(n 2000); kinds=50; rows=$(n 1000000)
cat <<SQL
SET client_min_messages = warning;
CREATE TABLE owner (id serial PRIMARY KEY, name char(12) NOT NULL);
INSERT INTO owner SELECT s, 'o' || s FROM generate_series(1, ${owners}) s;
CREATE TABLE shop (id serial PRIMARY KEY, owner_id integer REFERENCES owner (id), name char(12) NOT NULL);
INSERT INTO shop SELECT s, CASE WHEN s % 9 = 0 THEN NULL ELSE 1 + (s * 7) % ${owners} END, 's' || s FROM generate_series(1, ${shops}) s;
CREATE TABLE kind (id serial PRIMARY KEY, label char(8) NOT NULL);
INSERT INTO kind SELECT s, 'k' || s FROM generate_series(1, ${kinds}) s;
CREATE TABLE sale (id serial PRIMARY KEY, shop_id integer REFERENCES shop (id), kind_id integer NOT NULL REFERENCES kind (id),
  filler char(8) NOT NULL);
INSERT INTO sale SELECT s, CASE WHEN s % 8 = 0 THEN NULL ELSE 1 + (s - 1)::bigint * ${shops} / ${rows} END, 1 + s % ${kinds}, 'f' || (s % 1000)
  FROM generate_series(1, ${rows}) s;
CREATE TABLE bench_meta (scale varchar(20) PRIMARY KEY);
INSERT INTO bench_meta VALUES ('${scale}');
SQL

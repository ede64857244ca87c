#!/usr/bin/env bash
# Prints the SQL that builds the benchmark's second shape at scale $1 (default 1): narrow rows and
# only the indexes that foreign keys need, 81 tables, most of them small, and two large log tables
# that hold most of the rows: about 1.44M rows at scale 1. Deterministic values, 10-20% NULL
# references. Uses MariaDB's sequence engine (seq_1_to_N) so rows are generated inside the server.
set -euo pipefail
scale=${1:-1}
n() { awk -v a="$1" -v s="$scale" 'BEGIN { v = int(a * s); if (v < 1) v = 1; print v }'; }

users=$(n 30000); projects=$(n 6000); small=$(n 200); events=$(n 780000); accesses=$(n 600000)

cat <<SQL
SET SESSION foreign_key_checks = 0;
SET SESSION unique_checks = 0;
SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION';
CREATE TABLE account (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, name VARCHAR(40) NOT NULL, created_at DATETIME NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO account SELECT seq, CONCAT('acct', seq), TIMESTAMP('2015-01-01') + INTERVAL seq MINUTE FROM seq_1_to_${users};
CREATE TABLE project (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, owner_id INT NULL, name VARCHAR(40) NOT NULL,
  CONSTRAINT fk_project_owner FOREIGN KEY (owner_id) REFERENCES account (id) ON DELETE SET NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO project SELECT seq, IF(seq % 9 = 0, NULL, 1 + (seq * 7) % ${users}), CONCAT('p', seq) FROM seq_1_to_${projects};
SQL

# 77 small lookup tables, each referencing an account.
for i in $(seq -w 1 77); do
cat <<SQL
CREATE TABLE lk_${i} (id SMALLINT NOT NULL AUTO_INCREMENT PRIMARY KEY, account_id INT NULL, code VARCHAR(20) NOT NULL, weight INT NOT NULL,
  CONSTRAINT fk_lk_${i}_account FOREIGN KEY (account_id) REFERENCES account (id) ON DELETE SET NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO lk_${i} SELECT seq, IF(seq % 6 = 0, NULL, 1 + (seq * ${i#0}) % ${users}), CONCAT('c', seq), seq * 3 FROM seq_1_to_${small};
SQL
done

cat <<SQL
CREATE TABLE event_log (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, account_id INT NULL, project_id INT NULL,
  kind SMALLINT NOT NULL, happened_at DATETIME NOT NULL,
  CONSTRAINT fk_event_account FOREIGN KEY (account_id) REFERENCES account (id) ON DELETE SET NULL,
  CONSTRAINT fk_event_project FOREIGN KEY (project_id) REFERENCES project (id) ON DELETE SET NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO event_log SELECT seq, IF(seq % 8 = 0, NULL, 1 + (seq * 13) % ${users}), IF(seq % 5 = 0, NULL, 1 + (seq * 11) % ${projects}),
  seq % 40, TIMESTAMP('2020-01-01') + INTERVAL seq SECOND FROM seq_1_to_${events};
CREATE TABLE access_log (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, account_id INT NULL, lk_id SMALLINT NULL,
  status SMALLINT NOT NULL, bytes INT NOT NULL, happened_at DATETIME NOT NULL,
  CONSTRAINT fk_access_account FOREIGN KEY (account_id) REFERENCES account (id) ON DELETE SET NULL,
  CONSTRAINT fk_access_lk FOREIGN KEY (lk_id) REFERENCES lk_01 (id) ON DELETE SET NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO access_log SELECT seq, IF(seq % 7 = 0, NULL, 1 + (seq * 17) % ${users}), IF(seq % 4 = 0, NULL, 1 + seq % ${small}),
  200 + (seq % 4) * 100, seq % 65536, TIMESTAMP('2021-01-01') + INTERVAL seq SECOND FROM seq_1_to_${accesses};
CREATE TABLE bench_meta (scale VARCHAR(20) NOT NULL PRIMARY KEY) ENGINE=InnoDB;
INSERT INTO bench_meta VALUES ('${scale}');
SQL

#!/usr/bin/env bash
# Prints the SQL that builds the benchmark's lean shape at scale $1 (default 1): rows under 120
# bytes on average, only primary, unique and foreign-key indexes, 81 tables, most rows in two log
# tables: about 1.44M rows at scale 1. This is where a plain copy is fastest (200k rows/s or more
# on the project's machines), so rekey's fixed per-row work shows (issue 21). Deterministic values,
# 10-20% NULL references, references mostly in insertion order (as a growing site writes them).
# Uses MariaDB's sequence engine (seq_1_to_N) so rows are generated inside the server.
set -euo pipefail
scale=${1:-1}
n() { awk -v a="$1" -v s="$scale" 'BEGIN { v = int(a * s); if (v < 1) v = 1; print v }'; }

users=$(n 20000); posts=$(n 20000); small=$(n 150); views=$(n 800000); likes=$(n 580000)

cat <<SQL
SET SESSION foreign_key_checks = 0;
SET SESSION unique_checks = 0;
SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION';
CREATE TABLE member (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, handle VARCHAR(24) NOT NULL, joined DATE NOT NULL,
  UNIQUE KEY uq_member_handle (handle)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO member SELECT seq, CONCAT('m', seq), DATE('2015-01-01') + INTERVAL (seq % 3000) DAY FROM seq_1_to_${users};
CREATE TABLE post (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, member_id INT NULL, title VARCHAR(40) NOT NULL,
  CONSTRAINT fk_post_member FOREIGN KEY (member_id) REFERENCES member (id) ON DELETE SET NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO post SELECT seq, IF(seq % 9 = 0, NULL, 1 + (seq - 1) * ${users} DIV ${posts}), CONCAT('post ', seq) FROM seq_1_to_${posts};
SQL

# 77 small lookup tables, each referencing a member.
for i in $(seq -w 1 77); do
cat <<SQL
CREATE TABLE opt_${i} (id SMALLINT NOT NULL AUTO_INCREMENT PRIMARY KEY, member_id INT NULL, code VARCHAR(12) NOT NULL,
  CONSTRAINT fk_opt_${i}_member FOREIGN KEY (member_id) REFERENCES member (id) ON DELETE SET NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO opt_${i} SELECT seq, IF(seq % 6 = 0, NULL, 1 + (seq * ${i#0}) % ${users}), CONCAT('c', seq) FROM seq_1_to_${small};
SQL
done

cat <<SQL
CREATE TABLE view_log (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, post_id INT NULL, seen_at DATETIME NOT NULL,
  CONSTRAINT fk_view_post FOREIGN KEY (post_id) REFERENCES post (id) ON DELETE SET NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO view_log SELECT seq, IF(seq % 8 = 0, NULL, 1 + (seq - 1) * ${posts} DIV ${views}),
  TIMESTAMP('2020-01-01') + INTERVAL seq SECOND FROM seq_1_to_${views};
CREATE TABLE like_log (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, member_id INT NULL, weight TINYINT NOT NULL,
  CONSTRAINT fk_like_member FOREIGN KEY (member_id) REFERENCES member (id) ON DELETE SET NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO like_log SELECT seq, IF(seq % 7 = 0, NULL, 1 + (seq - 1) * ${users} DIV ${likes}), seq % 5 FROM seq_1_to_${likes};
CREATE TABLE bench_meta (scale VARCHAR(20) NOT NULL PRIMARY KEY) ENGINE=InnoDB;
INSERT INTO bench_meta VALUES ('${scale}');
SQL

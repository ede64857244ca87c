#!/usr/bin/env bash
# Prints the SQL that builds the benchmark's seed-like database at scale $1 (default 1): 80 tables
# (users, groups, many-to-many tables, self references, two high-volume log tables, 64 domain
# tables), about 1.5M rows / 250 MB at scale 1, deterministic values, 10-20% NULL references.
# Uses MariaDB's sequence engine (seq_1_to_N) so rows are generated inside the server.
set -euo pipefail
scale=${1:-1}
n() { awk -v a="$1" -v s="$scale" 'BEGIN { v = int(a * s); if (v < 1) v = 1; print v }'; }

users=$(n 40000); groups=100; memberships=$(n 80000); items=$(n 100000); translations=$(n 100000)
comments=$(n 150000); mails=$(n 40000); requests=$(n 600000); audits=$(n 300000); dom_rows=$(n 1000)

cat <<SQL
SET SESSION foreign_key_checks = 0;
SET SESSION unique_checks = 0;
SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION';
CREATE TABLE user (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, email VARCHAR(190) NOT NULL, name VARCHAR(100) NOT NULL,
  bio TEXT NULL, avatar BLOB NULL, status TINYINT NOT NULL, created_at DATETIME(6) NOT NULL,
  UNIQUE KEY uq_user_email (email)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO user SELECT seq, CONCAT('user', seq, '@example.org'), CONCAT('User ', seq, ' ', SUBSTR(MD5(seq), 1, 12)),
  IF(seq % 5 = 0, NULL, REPEAT(CONCAT(MD5(seq), ' '), 3)), IF(seq % 3 = 0, UNHEX(REPEAT(MD5(seq), 2)), NULL),
  seq % 4, TIMESTAMP('2015-01-01') + INTERVAL seq MINUTE FROM seq_1_to_${users};
CREATE TABLE user_group (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, name VARCHAR(80) NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO user_group SELECT seq, CONCAT('group ', seq) FROM seq_1_to_${groups};
CREATE TABLE user_mtm_user_group (user_id INT UNSIGNED NOT NULL, user_group_id INT NOT NULL,
  PRIMARY KEY (user_id, user_group_id), KEY ix_umug_group (user_group_id),
  CONSTRAINT fk_umug_user FOREIGN KEY (user_id) REFERENCES user (id) ON DELETE CASCADE,
  CONSTRAINT fk_umug_group FOREIGN KEY (user_group_id) REFERENCES user_group (id) ON DELETE CASCADE) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT IGNORE INTO user_mtm_user_group SELECT 1 + (seq * 7919) % ${users}, 1 + seq % ${groups} FROM seq_1_to_${memberships};
CREATE TABLE content_item (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, parent_id BIGINT NULL, author_id INT UNSIGNED NULL,
  title VARCHAR(255) NOT NULL, body TEXT NULL, published_on DATE NULL, score DOUBLE NULL,
  KEY ix_ci_parent (parent_id), KEY ix_ci_author (author_id),
  CONSTRAINT fk_ci_parent FOREIGN KEY (parent_id) REFERENCES content_item (id) ON DELETE SET NULL,
  CONSTRAINT fk_ci_author FOREIGN KEY (author_id) REFERENCES user (id) ON DELETE SET NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO content_item SELECT seq, IF(seq % 3 = 0 AND seq > 10, 1 + (seq * 31) % (seq - 1), NULL),
  IF(seq % 8 = 0, NULL, 1 + (seq * 104729) % ${users}), CONCAT('Item ', seq, ' ', MD5(seq)),
  REPEAT(CONCAT(MD5(seq * 3), ' lorem ipsum dolor '), 6), DATE('2016-01-01') + INTERVAL (seq % 3000) DAY, seq / 7e0
  FROM seq_1_to_${items};
CREATE TABLE content_item_translation (
  id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, content_item_id BIGINT NOT NULL, lang CHAR(5) NOT NULL, intro TEXT NULL,
  UNIQUE KEY uq_cit (content_item_id, lang),
  CONSTRAINT fk_cit_item FOREIGN KEY (content_item_id) REFERENCES content_item (id) ON DELETE CASCADE) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO content_item_translation SELECT seq, 1 + (seq - 1) % ${items}, ELT(1 + (seq - 1) DIV ${items} % 5, 'en', 'de', 'fr', 'es', 'it'),
  REPEAT(CONCAT(SUBSTR(MD5(seq), 1, 20), ' übersetzt '), 5) FROM seq_1_to_${translations};
CREATE TABLE comment (
  comment_id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, content_item_id BIGINT NOT NULL, parent_comment_id INT NULL,
  user_id INT UNSIGNED NULL, body TEXT NOT NULL, created_at DATETIME NOT NULL,
  KEY ix_c_item (content_item_id), KEY ix_c_parent (parent_comment_id), KEY ix_c_user (user_id),
  CONSTRAINT fk_c_item FOREIGN KEY (content_item_id) REFERENCES content_item (id) ON DELETE CASCADE,
  CONSTRAINT fk_c_parent FOREIGN KEY (parent_comment_id) REFERENCES comment (comment_id) ON DELETE SET NULL,
  CONSTRAINT fk_c_user FOREIGN KEY (user_id) REFERENCES user (id) ON DELETE SET NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO comment SELECT seq, 1 + (seq * 13) % ${items}, IF(seq % 4 = 0 AND seq > 1, 1 + (seq * 17) % (seq - 1), NULL),
  IF(seq % 6 = 0, NULL, 1 + (seq * 7) % ${users}), CONCAT('Comment ', seq, ': ', REPEAT(SUBSTR(MD5(seq), 1, 16), 6)),
  TIMESTAMP('2017-01-01') + INTERVAL seq SECOND FROM seq_1_to_${comments};
CREATE TABLE mail_message (
  id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, sender_id INT UNSIGNED NOT NULL, recipient_id INT UNSIGNED NULL,
  subject VARCHAR(255) NOT NULL, body TEXT NOT NULL, sent_at DATETIME(6) NULL,
  CONSTRAINT fk_mm_sender FOREIGN KEY (sender_id) REFERENCES user (id),
  CONSTRAINT fk_mm_recipient FOREIGN KEY (recipient_id) REFERENCES user (id) ON DELETE SET NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO mail_message SELECT seq, 1 + (seq * 3) % ${users}, IF(seq % 9 = 0, NULL, 1 + (seq * 5) % ${users}),
  CONCAT('Subject ', seq), REPEAT(CONCAT(MD5(seq), ' mail '), 6), TIMESTAMP('2018-01-01') + INTERVAL seq SECOND FROM seq_1_to_${mails};
CREATE TABLE page_request (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, content_item_id BIGINT NULL, user_id INT UNSIGNED NULL,
  path VARCHAR(255) NOT NULL, status SMALLINT NOT NULL, duration_ms DOUBLE NOT NULL, user_agent VARCHAR(255) NULL,
  requested_at DATETIME(6) NOT NULL, KEY ix_pr_item (content_item_id), KEY ix_pr_user (user_id), KEY ix_pr_at (requested_at),
  CONSTRAINT fk_pr_item FOREIGN KEY (content_item_id) REFERENCES content_item (id) ON DELETE SET NULL,
  CONSTRAINT fk_pr_user FOREIGN KEY (user_id) REFERENCES user (id) ON DELETE SET NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO page_request SELECT seq, IF(seq % 7 = 0, NULL, 1 + (seq * 11) % ${items}), IF(seq % 5 = 0, NULL, 1 + (seq * 13) % ${users}),
  CONCAT('/content/', seq % 10000, '/view?ref=', SUBSTR(MD5(seq), 1, 8)), 200 + (seq % 5) * 100, (seq % 997) / 3e0,
  CONCAT('Mozilla/5.0 (X11; Linux x86_64) rekey-bench/', seq % 100, ' ', SUBSTR(MD5(seq), 1, 24)),
  TIMESTAMP('2020-01-01') + INTERVAL seq SECOND FROM seq_1_to_${requests};
CREATE TABLE audit_event (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, user_id INT UNSIGNED NULL, action VARCHAR(50) NOT NULL,
  payload BLOB NULL, created_at DATETIME(6) NOT NULL, KEY ix_ae_user (user_id),
  CONSTRAINT fk_ae_user FOREIGN KEY (user_id) REFERENCES user (id) ON DELETE SET NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO audit_event SELECT seq, IF(seq % 6 = 0, NULL, 1 + (seq * 17) % ${users}), ELT(1 + seq % 4, 'login', 'logout', 'edit', 'delete'),
  UNHEX(CONCAT(MD5(seq), MD5(seq + 1), MD5(seq + 2))), TIMESTAMP('2021-01-01') + INTERVAL seq SECOND FROM seq_1_to_${audits};
SQL

# 64 domain tables referencing users and content items, and 7 many-to-many tables over them.
for i in $(seq -w 1 64); do
cat <<SQL
CREATE TABLE dom_${i} (
  id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, owner_id INT UNSIGNED NULL, item_id BIGINT NULL, name VARCHAR(100) NOT NULL,
  amount DECIMAL(12,2) NOT NULL, note TEXT NULL, created_at DATETIME NOT NULL,
  CONSTRAINT fk_dom_${i}_owner FOREIGN KEY (owner_id) REFERENCES user (id) ON DELETE SET NULL,
  CONSTRAINT fk_dom_${i}_item FOREIGN KEY (item_id) REFERENCES content_item (id) ON DELETE SET NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO dom_${i} SELECT seq, IF(seq % 7 = 0, NULL, 1 + (seq * ${i#0}) % ${users}), IF(seq % 5 = 0, NULL, 1 + (seq * 3) % ${items}),
  CONCAT('dom ${i} row ', seq), (seq * 1.25) % 100000, IF(seq % 4 = 0, NULL, REPEAT(SUBSTR(MD5(seq), 1, 10), 5)),
  TIMESTAMP('2019-01-01') + INTERVAL seq HOUR FROM seq_1_to_${dom_rows};
SQL
done
for i in 1 2 3 4 5 6 7; do
cat <<SQL
CREATE TABLE dom_mtm_${i} (dom_id INT NOT NULL, user_id INT UNSIGNED NOT NULL, PRIMARY KEY (dom_id, user_id),
  CONSTRAINT fk_dm_${i}_dom FOREIGN KEY (dom_id) REFERENCES dom_0${i} (id) ON DELETE CASCADE,
  CONSTRAINT fk_dm_${i}_user FOREIGN KEY (user_id) REFERENCES user (id) ON DELETE CASCADE) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT IGNORE INTO dom_mtm_${i} SELECT 1 + seq % ${dom_rows}, 1 + (seq * 37) % ${users} FROM seq_1_to_$(( dom_rows * 2 ));
SQL
done
echo "CREATE TABLE bench_meta (scale VARCHAR(20) NOT NULL PRIMARY KEY) ENGINE=InnoDB;"
echo "INSERT INTO bench_meta VALUES ('${scale}');"

CREATE TABLE accounts_mysql8 (
  id binary(16) NOT NULL DEFAULT (UUID_TO_BIN(UUID())),
  email varchar(254) NOT NULL,
  tags json NOT NULL DEFAULT (JSON_ARRAY()),
  created_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  UNIQUE KEY uq_email_ci ((LOWER(email))),
  KEY ix_tags ((CAST(tags->'$[*]' AS CHAR(32) ARRAY)))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci;
CREATE TABLE geo_mysql8 (
  id int NOT NULL AUTO_INCREMENT,
  pos point NOT NULL SRID 4326,
  PRIMARY KEY (id),
  SPATIAL KEY sp_pos (pos)
) ENGINE=InnoDB;
CREATE TABLE orders_mysql8 (
  id bigint unsigned NOT NULL AUTO_INCREMENT,
  total decimal(12,2) NOT NULL,
  status varchar(20) NOT NULL DEFAULT 'new',
  PRIMARY KEY (id),
  CONSTRAINT ck_total CHECK (total >= 0) ENFORCED,
  KEY ix_status (status) INVISIBLE
) ENGINE=InnoDB AUTOEXTEND_SIZE=4M STATS_PERSISTENT=DEFAULT;
CREATE TABLE notes_mysql8 (
  id int NOT NULL PRIMARY KEY,
  body text,
  FULLTEXT KEY ft_body (body) WITH PARSER ngram
) ENGINE=InnoDB ENCRYPTION='N';

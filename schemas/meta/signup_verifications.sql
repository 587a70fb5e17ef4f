CREATE TABLE signup_verifications (
  db_id char(32) NOT NULL,
  code_hash char(64) NOT NULL,
  expires_at datetime(3) NOT NULL,
  attempts smallint unsigned NOT NULL DEFAULT 0,
  created_at datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (db_id),
  CONSTRAINT fk_signup_verifications_db FOREIGN KEY (db_id) REFERENCES tenant_databases (db_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE table_customizations (
  db_id char(32) NOT NULL,
  table_name varchar(64) NOT NULL,
  job_id char(36) NOT NULL,
  customized_at datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (db_id, table_name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

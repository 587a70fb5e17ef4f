CREATE TABLE table_backups (
  backup_id char(36) NOT NULL,
  job_id char(36) NOT NULL,
  tenant_id char(36) NOT NULL,
  db_id char(32) NOT NULL,
  host_id varchar(64) NOT NULL,
  table_name varchar(64) NOT NULL,
  definition mediumtext DEFAULT NULL,
  created_at datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  expires_at datetime(3) NOT NULL,
  kept_at datetime(3) DEFAULT NULL,
  restored_at datetime(3) DEFAULT NULL,
  dropped_at datetime(3) DEFAULT NULL,
  PRIMARY KEY (backup_id),
  UNIQUE KEY ux_table_backups_job (job_id),
  KEY ix_table_backups_db (db_id, created_at),
  KEY ix_table_backups_expiry (dropped_at, restored_at, expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

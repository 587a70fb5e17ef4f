CREATE TABLE base_backups (
  backup_key varchar(255) NOT NULL,
  db_id char(32) NOT NULL,
  host_id varchar(64) NOT NULL,
  reason enum('provisioned','scheduled','before_restore','after_restore') NOT NULL,
  binlog_file varchar(255) NOT NULL,
  binlog_pos bigint unsigned NOT NULL,
  size_bytes bigint unsigned NOT NULL,
  started_at datetime(3) NOT NULL,
  finished_at datetime(3) NOT NULL,
  deleted_at datetime(3) DEFAULT NULL,
  PRIMARY KEY (backup_key),
  KEY ix_base_backups_db (db_id, deleted_at, finished_at),
  KEY ix_base_backups_expiry (deleted_at, finished_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

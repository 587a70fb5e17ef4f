CREATE TABLE database_restores (
  restore_id char(36) NOT NULL,
  requested_by char(36) NOT NULL,
  tenant_id char(36) NOT NULL,
  db_id char(32) NOT NULL,
  target enum('new','in_place') NOT NULL,
  target_db_id char(32) NOT NULL,
  to_time datetime(3) NOT NULL,
  base_key varchar(255) NOT NULL,
  state enum('queued','running','succeeded','failed') NOT NULL,
  reason varchar(1000) DEFAULT NULL,
  active_tenant_id char(36) DEFAULT NULL,
  created_at datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  started_at datetime(3) DEFAULT NULL,
  finished_at datetime(3) DEFAULT NULL,
  PRIMARY KEY (restore_id),
  UNIQUE KEY ux_database_restores_active (active_tenant_id),
  KEY ix_database_restores_db (db_id, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

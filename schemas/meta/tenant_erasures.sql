CREATE TABLE tenant_erasures (
  tenant_id char(36) NOT NULL,
  requested_by enum('operator','tenant') NOT NULL,
  state enum('running','done') NOT NULL DEFAULT 'running',
  was_admin tinyint(1) NOT NULL DEFAULT 0,
  db_ids mediumtext NOT NULL,
  databases_dropped int unsigned NOT NULL DEFAULT 0,
  api_keys_deleted int unsigned NOT NULL DEFAULT 0,
  log_items_deleted bigint unsigned NOT NULL DEFAULT 0,
  children_detached int unsigned NOT NULL DEFAULT 0,
  claimed_by varchar(128) DEFAULT NULL,
  claimed_at datetime(3) DEFAULT NULL,
  requested_at datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  finished_at datetime(3) DEFAULT NULL,
  PRIMARY KEY (tenant_id),
  KEY ix_tenant_erasures_state (state, claimed_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

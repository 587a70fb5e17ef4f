CREATE TABLE migration_batches (
  batch_id char(36) NOT NULL,
  tenant_id char(36) NOT NULL,
  db_id char(32) NOT NULL,
  kind varchar(16) NOT NULL,
  parent_job_id char(36) DEFAULT NULL,
  allow_unsafe tinyint(1) NOT NULL DEFAULT 0,
  atomic tinyint(1) NOT NULL DEFAULT 0,
  created_at datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  finished_at datetime(3) DEFAULT NULL,
  notify_pending tinyint(1) NOT NULL DEFAULT 0,
  outcome enum('succeeded','failed','rolled_back') DEFAULT NULL,
  PRIMARY KEY (batch_id),
  KEY ix_migration_batches_tenant (tenant_id, created_at, batch_id),
  KEY ix_migration_batches_parent_job (parent_job_id),
  KEY ix_migration_batches_notify (notify_pending, finished_at),
  KEY ix_migration_batches_finished (finished_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

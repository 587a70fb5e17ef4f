CREATE TABLE migration_audit (
  audit_id bigint unsigned NOT NULL AUTO_INCREMENT,
  job_id char(36) NOT NULL,
  attempt int unsigned NOT NULL,
  stage varchar(16) NOT NULL,
  outcome varchar(16) NOT NULL,
  detail text DEFAULT NULL,
  started_at datetime(3) NOT NULL,
  finished_at datetime(3) NOT NULL,
  PRIMARY KEY (audit_id),
  KEY ix_migration_audit_job (job_id, audit_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

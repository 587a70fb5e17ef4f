CREATE TABLE tenant_databases (
  db_id char(32) NOT NULL,
  tenant_id char(36) NOT NULL,
  host_id varchar(64) NOT NULL,
  template varchar(64) NOT NULL,
  status varchar(16) NOT NULL,
  status_reason varchar(1000) DEFAULT NULL,
  mysql_user varchar(32) NOT NULL,
  mysql_password_sealed varchar(255) DEFAULT NULL,
  claimed_at datetime(3) DEFAULT NULL,
  created_at datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (db_id),
  KEY ix_tenant_databases_tenant (tenant_id),
  KEY ix_tenant_databases_host (host_id),
  KEY ix_tenant_databases_template (template),
  CONSTRAINT fk_tenant_databases_tenant FOREIGN KEY (tenant_id) REFERENCES tenants (tenant_id),
  CONSTRAINT fk_tenant_databases_host FOREIGN KEY (host_id) REFERENCES hosts (host_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

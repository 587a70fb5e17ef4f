CREATE TABLE api_keys (
  key_id char(36) NOT NULL,
  tenant_id char(36) NOT NULL,
  name varchar(64) NOT NULL,
  scope enum('read','write','migrate') NOT NULL,
  db_id char(32) NOT NULL,
  db_bound tinyint(1) NOT NULL DEFAULT 0,
  key_hash binary(32) NOT NULL,
  created_at datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  expires_at datetime(3) DEFAULT NULL,
  last_used_at datetime(3) DEFAULT NULL,
  revoked_at datetime(3) DEFAULT NULL,
  PRIMARY KEY (key_id),
  UNIQUE KEY uq_api_keys_hash (key_hash),
  KEY ix_api_keys_tenant (tenant_id,created_at),
  CONSTRAINT fk_api_keys_tenant FOREIGN KEY (tenant_id) REFERENCES tenants (tenant_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

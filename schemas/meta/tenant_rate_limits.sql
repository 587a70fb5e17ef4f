CREATE TABLE tenant_rate_limits (
  tenant_id char(36) NOT NULL,
  route varchar(16) NOT NULL,
  per_second double NOT NULL,
  burst int unsigned NOT NULL,
  updated_at datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (tenant_id, route),
  CONSTRAINT fk_tenant_rate_limits_tenant FOREIGN KEY (tenant_id) REFERENCES tenants (tenant_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

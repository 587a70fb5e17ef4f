CREATE TABLE issued_tokens (
  tenant_id char(36) NOT NULL,
  jti char(36) NOT NULL,
  token_sealed varchar(2048) NOT NULL,
  expires_at datetime(3) NOT NULL,
  issued_at datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (tenant_id),
  CONSTRAINT fk_issued_tokens_tenant FOREIGN KEY (tenant_id) REFERENCES tenants (tenant_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

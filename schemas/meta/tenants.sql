CREATE TABLE tenants (
  tenant_id char(36) NOT NULL,
  name varchar(100) NOT NULL,
  email varchar(254) NOT NULL,
  password_hash char(60) NOT NULL,
  is_admin tinyint(1) NOT NULL DEFAULT 0,
  created_at datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  suspended_at datetime(3) DEFAULT NULL,
  PRIMARY KEY (tenant_id),
  UNIQUE KEY uq_tenants_email (email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

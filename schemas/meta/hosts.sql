CREATE TABLE hosts (
  host_id varchar(64) NOT NULL,
  instance_id varchar(64) NOT NULL,
  endpoint varchar(255) NOT NULL,
  port int unsigned NOT NULL DEFAULT 3306,
  active tinyint(1) NOT NULL DEFAULT 1,
  created_at datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (host_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE orders (
  id bigint unsigned NOT NULL AUTO_INCREMENT,
  customer_id bigint unsigned NOT NULL,
  total decimal(12,2) NOT NULL DEFAULT 0.00,
  status varchar(20) NOT NULL DEFAULT 'new',
  created_at datetime NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  KEY ix_orders_customer (customer_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

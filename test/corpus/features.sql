CREATE TABLE events_by_hash (
  id bigint unsigned NOT NULL AUTO_INCREMENT,
  tenant int NOT NULL,
  status varchar(20) NOT NULL DEFAULT 'new',
  payload json DEFAULT NULL,
  PRIMARY KEY (id, tenant)
) ENGINE=InnoDB PARTITION BY HASH (tenant) PARTITIONS 4;
CREATE TABLE events_by_key (
  id bigint unsigned NOT NULL,
  day date NOT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB PARTITION BY LINEAR KEY (id) PARTITIONS 3;
CREATE TABLE measurements (
  id bigint unsigned NOT NULL AUTO_INCREMENT,
  taken_at datetime NOT NULL,
  value double NOT NULL,
  PRIMARY KEY (id, taken_at)
) ENGINE=InnoDB
PARTITION BY RANGE (YEAR(taken_at)) (
  PARTITION p2024 VALUES LESS THAN (2025),
  PARTITION p2025 VALUES LESS THAN (2026),
  PARTITION pmax VALUES LESS THAN MAXVALUE
);
CREATE TABLE regions_list (
  id int NOT NULL,
  region char(2) NOT NULL,
  PRIMARY KEY (id, region)
) PARTITION BY LIST COLUMNS (region) (
  PARTITION p_eu VALUES IN ('FR', 'DE', 'IT') ENGINE = InnoDB,
  PARTITION p_us VALUES IN ('US', 'CA') ENGINE = InnoDB COMMENT = 'north america'
);
CREATE TABLE sales_sub (
  id int NOT NULL,
  sold date NOT NULL,
  PRIMARY KEY (id, sold)
) PARTITION BY RANGE (YEAR(sold)) SUBPARTITION BY HASH (TO_DAYS(sold)) SUBPARTITIONS 2 (
  PARTITION p0 VALUES LESS THAN (2000),
  PARTITION p1 VALUES LESS THAN MAXVALUE
);
CREATE TABLE prices_history (
  id int NOT NULL PRIMARY KEY,
  price decimal(10,2) NOT NULL,
  status varchar(20) NOT NULL DEFAULT 'active'
) WITH SYSTEM VERSIONING;
CREATE TABLE contracts_history (
  id int NOT NULL PRIMARY KEY,
  body text,
  row_start timestamp(6) GENERATED ALWAYS AS ROW START INVISIBLE,
  row_end timestamp(6) GENERATED ALWAYS AS ROW END INVISIBLE,
  PERIOD FOR SYSTEM_TIME (row_start, row_end)
) WITH SYSTEM VERSIONING;
CREATE TABLE coupons (
  id int NOT NULL,
  name varchar(100) NOT NULL,
  date_start date NOT NULL,
  date_end date NOT NULL,
  PERIOD FOR valid_period (date_start, date_end),
  PRIMARY KEY (id)
);
CREATE TABLE rooms_booked (
  room_id int NOT NULL,
  guest varchar(100) NOT NULL,
  check_in date NOT NULL,
  check_out date NOT NULL,
  PERIOD FOR stay (check_in, check_out),
  UNIQUE KEY uq_room_stay (room_id, stay WITHOUT OVERLAPS)
);
CREATE TABLE people (
  id int unsigned NOT NULL AUTO_INCREMENT,
  first_name varchar(50) NOT NULL,
  last_name varchar(50) NOT NULL,
  full_name varchar(101) AS (CONCAT(first_name, ' ', last_name)) VIRTUAL,
  email varchar(254) NOT NULL,
  email_domain varchar(254) GENERATED ALWAYS AS (SUBSTRING_INDEX(email, '@', -1)) STORED,
  age tinyint unsigned DEFAULT NULL,
  secret_note varchar(200) INVISIBLE DEFAULT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_email (email),
  KEY ix_domain (email_domain),
  CONSTRAINT ck_age CHECK (age IS NULL OR age BETWEEN 0 AND 150),
  CONSTRAINT ck_email CHECK (email LIKE '%@%')
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci ROW_FORMAT=DYNAMIC COMMENT='people, with generated columns';
CREATE TABLE documents (
  id bigint unsigned NOT NULL AUTO_INCREMENT,
  doc json NOT NULL CHECK (JSON_VALID(doc)),
  title varchar(200) AS (JSON_UNQUOTE(JSON_EXTRACT(doc, '$.title'))) VIRTUAL,
  created_at datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  KEY ix_title (title)
) ENGINE=InnoDB STATS_PERSISTENT=1 STATS_AUTO_RECALC=1 STATS_SAMPLE_PAGES=25;
CREATE TABLE places (
  id int NOT NULL AUTO_INCREMENT,
  name varchar(100) NOT NULL,
  pos point NOT NULL,
  area polygon DEFAULT NULL,
  PRIMARY KEY (id),
  SPATIAL KEY sp_pos (pos)
) ENGINE=InnoDB;
CREATE TABLE counters (
  name varchar(64) NOT NULL PRIMARY KEY,
  value bigint NOT NULL DEFAULT 0,
  ratio float(7,4) DEFAULT .5,
  big decimal(65,30) DEFAULT 1.5e3,
  flags bit(8) NOT NULL DEFAULT b'00000000',
  mask binary(4) NOT NULL DEFAULT 0x00000000,
  uid binary(16) DEFAULT NULL,
  kind enum('a','b','it''s') NOT NULL DEFAULT 'a',
  note varchar(100) CHARACTER SET latin1 COLLATE latin1_swedish_ci DEFAULT 'semi;colon and \\backslash',
  added date DEFAULT (CURRENT_DATE),
  expires datetime DEFAULT (NOW() + INTERVAL 30 DAY),
  code char(8) DEFAULT (LEFT(UUID(), 8)),
  level int DEFAULT (-1),
  KEY ix_value (value DESC)
) ENGINE=InnoDB AUTO_INCREMENT=1 CHECKSUM=0 PACK_KEYS=DEFAULT KEY_BLOCK_SIZE=0 MIN_ROWS=0 MAX_ROWS=1000000;
CREATE TABLE audit_log (
  id bigint unsigned NOT NULL AUTO_INCREMENT,
  user varchar(64) DEFAULT NULL,
  action varchar(32) NOT NULL,
  `timestamp` timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
  `key` varchar(100) DEFAULT NULL,
  `order` int DEFAULT NULL,
  `group` varchar(50) DEFAULT NULL,
  `desc` text,
  data longtext CHARACTER SET utf8mb4 COLLATE utf8mb4_bin DEFAULT NULL CHECK (json_valid(data)),
  PRIMARY KEY (id),
  KEY ix_user_time (user, `timestamp`)
) ENGINE=InnoDB PAGE_COMPRESSED=0 ENCRYPTED=NO;
CREATE TABLE compressed_blobs (
  id int NOT NULL PRIMARY KEY,
  body blob COMPRESSED,
  doc text COMPRESSED=zlib
) ENGINE=InnoDB ROW_FORMAT=COMPRESSED KEY_BLOCK_SIZE=8;
CREATE TABLE inet_hosts (
  id int NOT NULL PRIMARY KEY,
  addr inet6 NOT NULL,
  ref uuid DEFAULT NULL,
  UNIQUE KEY uq_addr (addr)
);

#!/usr/bin/env bash
# Idempotent local set-up, run before `npm start` and `npm test`.
# Answers at once when MySQL/MariaDB (with OctoDB's admin account over TCP), Redis and Skeema
# are reachable; otherwise brings them up: docker compose where a Docker engine answers, else
# the Debian packages (as root), else says what to install.
set -euo pipefail
cd "$(dirname "$0")/.."

# The admin account OctoDB connects with over TCP (documented local default: octodb/octodb).
MYSQL_URL="${OCTODB_MYSQL_URL:-mysql://octodb:octodb@127.0.0.1:3306/octodb_meta}"
REDIS_URL="${OCTODB_REDIS_URL:-redis://127.0.0.1:6379}"
re='^mysql://([^:@/]+):([^@/]*)@([^:/]+):([0-9]+)/([A-Za-z0-9_]+)$'
if [[ ! "$MYSQL_URL" =~ $re ]]; then
  echo "setup: OCTODB_MYSQL_URL must look like mysql://user:password@host:port/metadb" >&2
  exit 1
fi
DB_USER="${BASH_REMATCH[1]}" DB_PASS="${BASH_REMATCH[2]}" DB_HOST="${BASH_REMATCH[3]}" DB_PORT="${BASH_REMATCH[4]}"
REDIS_HOSTPORT="${REDIS_URL#redis://}"; REDIS_HOSTPORT="${REDIS_HOSTPORT##*@}"; REDIS_HOSTPORT="${REDIS_HOSTPORT%%/*}"
REDIS_HOST="${REDIS_HOSTPORT%%:*}" REDIS_PORT="${REDIS_HOSTPORT##*:}"
# redis://:PASSWORD@host:port: a Redis started here requires that password, as ElastiCache requires its token.
REDIS_PASS=""
REDIS_USERINFO="${REDIS_URL#*://}"
if [[ "$REDIS_USERINFO" == *@* ]]; then REDIS_USERINFO="${REDIS_USERINFO%%@*}"; REDIS_PASS="${REDIS_USERINFO#*:}"; fi

# The CA OctoDB verifies the server with (OCTODB_MYSQL_CA_FILE): the Debian server's below, or compose's.
TLS_DIR=/etc/mysql/octodb-tls
COMPOSE_TLS_DIR=.octodb/tls
CA_FILE="${OCTODB_MYSQL_CA_FILE:-$TLS_DIR/ca.pem}"

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
mysql_ok() {
  port_open "$DB_HOST" "$DB_PORT" || return 1
  # Without a local mysql client (Docker set-ups), an open port is the best cheap check.
  command -v mysql >/dev/null || return 0
  # As OctoDB connects: TLS, the server's certificate verified against the CA.
  MYSQL_PWD="$DB_PASS" mysql --protocol=TCP -h "$DB_HOST" -P "$DB_PORT" -u "$DB_USER" --ssl-ca="$CA_FILE" --ssl-verify-server-cert -e 'SELECT 1' >/dev/null 2>&1
}
db_port_open() { port_open "$DB_HOST" "$DB_PORT"; }
redis_ok() { port_open "$REDIS_HOST" "$REDIS_PORT"; }
skeema_ok() { command -v skeema >/dev/null || docker_host_runner_ok; }
docker_ok() { command -v docker >/dev/null && docker info >/dev/null 2>&1; }
docker_host_runner_ok() { docker_ok && docker compose ps --status running dbhost 2>/dev/null | grep -q dbhost; }

# `--browser` (npm test): Debian's chromium for the web portal's browser test
# (test/integration/portal.test.ts, skipped without it), installed as root where apt-get is.
if [ "${1:-}" = --browser ] && ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing chromium (Debian package) for the portal's browser test"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium >/dev/null
  else
    echo "setup: no chromium: the portal's browser test will be skipped (apt-get install chromium)" >&2
  fi
fi

# The local server runs as production's does: TLS with a certificate of OctoDB's own CA (clients
# verify it), no connection over TCP without it (require_secure_transport; root's unix socket still
# works), row-based binary logs (point-in-time restore replays them), and a buffer pool that holds
# the tenants' working sets (Debian's 128 MB default let one tenant's 100 MB write evict every other
# tenant's pages; production's hosts size theirs with innodb_dedicated_server). Debian packages only.
SERVER_CNF=/etc/mysql/mariadb.conf.d/90-octodb.cnf
server_configured() {
  # Only a Debian MariaDB this script manages (as root) is checked; others are the user's to set.
  { [ "$(id -u)" = 0 ] && [ -d "$(dirname "$SERVER_CNF")" ]; } || return 0
  [ "$(mysql -uroot -N -e 'SELECT @@have_ssl = "YES" AND @@require_secure_transport = 1 AND @@log_bin = 1 AND @@binlog_format = "ROW" AND @@innodb_buffer_pool_size >= 1073741824' 2>/dev/null)" = 1 ]
}
# A CA and a server certificate it signs for the names given (subjectAltName entries), in dir $1.
make_certificates() { # dir, subjectAltName
  install -d -m 0755 "$1"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=OctoDB local CA" \
    -keyout "$1/ca-key.pem" -out "$1/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$1/server-key.pem" -out "$1/server.csr" 2>/dev/null
  openssl x509 -req -days 3650 -in "$1/server.csr" -CA "$1/ca.pem" -CAkey "$1/ca-key.pem" \
    -CAcreateserial -extfile <(printf 'subjectAltName=%s' "$2") -out "$1/server-cert.pem" 2>/dev/null
  rm -f "$1/server.csr"
  chmod 0600 "$1/ca-key.pem" "$1/server-key.pem"
  chmod 0644 "$1/ca.pem" "$1/server-cert.pem"
}
write_server_config() {
  if [ ! -f "$TLS_DIR/server-cert.pem" ]; then
    make_certificates "$TLS_DIR" 'IP:127.0.0.1,DNS:localhost'
    chown mysql: "$TLS_DIR/server-key.pem"
  fi
  cat > "$SERVER_CNF" <<CNF
# Written by OctoDB's bin/setup.sh.
[mariadbd]
ssl_ca = $TLS_DIR/ca.pem
ssl_cert = $TLS_DIR/server-cert.pem
ssl_key = $TLS_DIR/server-key.pem
require_secure_transport = ON
log_bin = octodb-bin
binlog_format = ROW
server_id = 1
binlog_expire_logs_seconds = 604800
innodb_buffer_pool_size = 1G
CNF
}

all_ok() { mysql_ok && redis_ok && skeema_ok && server_configured; }
if all_ok; then exit 0; fi

create_admin_account() {
  mysql -uroot <<SQL
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASS';
CREATE USER IF NOT EXISTS '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
CREATE USER IF NOT EXISTS '$DB_USER'@'%' IDENTIFIED BY '$DB_PASS';
GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'localhost' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'127.0.0.1' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'%' WITH GRANT OPTION;
SQL
}

wait_for() { # name, check function
  for _ in $(seq 1 60); do "$2" && return 0; sleep 1; done
  echo "setup: $1 did not come up" >&2; exit 1
}

if docker_ok; then
  if db_port_open && ! mysql_ok && ! docker compose ps --status running mysql 2>/dev/null | grep -q mysql; then
    # A server of this machine's own holds the port (not compose's, maybe still starting): compose's could not bind it.
    if [ "$(id -u)" = 0 ] && mysql -uroot -e 'SELECT 1' >/dev/null 2>&1; then
      create_admin_account
    else
      echo "setup: a MySQL server already listens on $DB_HOST:$DB_PORT and $DB_USER cannot log in to it:" >&2
      echo "       point OCTODB_MYSQL_URL at an account of it, or create '$DB_USER' there (see bin/setup.sh), or stop it" >&2
      exit 1
    fi
  fi
  all_ok && exit 0
  echo "setup: starting MySQL 8.4, Redis 7 and the db host with docker compose"
  # compose's MySQL serves a certificate of a CA of its own (mounted from here); the mysql container
  # reads the key as its own user, hence readable (a local development key, never a deployed one).
  if [ ! -f "$COMPOSE_TLS_DIR/server-cert.pem" ]; then
    make_certificates "$COMPOSE_TLS_DIR" 'IP:127.0.0.1,DNS:localhost,DNS:mysql'
    chmod 0644 "$COMPOSE_TLS_DIR/server-key.pem"
  fi
  [ "$CA_FILE" = "$COMPOSE_TLS_DIR/ca.pem" ] || echo "setup: with docker compose, set OCTODB_MYSQL_CA_FILE=$COMPOSE_TLS_DIR/ca.pem"
  docker compose up -d
  wait_for "Redis" redis_ok
  for _ in $(seq 1 90); do
    docker compose exec -T dbhost mysql -h mysql -e 'SELECT 1' >/dev/null 2>&1 && exit 0
    sleep 1
  done
  echo "setup: MySQL in docker compose did not answer" >&2; exit 1
fi

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  missing=()
  command -v mysqld >/dev/null || command -v mariadbd >/dev/null || missing+=(mariadb-server)
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v skeema >/dev/null || missing+=(skeema)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]} (Debian packages)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  if [ ! -f "$SERVER_CNF" ] || ! server_configured; then
    write_server_config
    if port_open "$DB_HOST" "$DB_PORT"; then service mariadb restart >/dev/null; fi
  fi
  if ! port_open "$DB_HOST" "$DB_PORT"; then
    service mariadb start >/dev/null
  fi
  wait_for "MariaDB" db_port_open
  # A fresh MariaDB lets root in only over the unix socket: create the TCP admin account.
  mysql_ok || create_admin_account
  if ! redis_ok; then
    # No dump.rdb in the repo: persistence off, working dir outside the tree.
    redis-server --port "$REDIS_PORT" --save "" --dir /tmp --daemonize yes ${REDIS_PASS:+--requirepass "$REDIS_PASS"} >/dev/null
    wait_for "Redis" redis_ok
  fi
  all_ok && exit 0
  echo "setup: services started but not all reachable" >&2; exit 1
fi

cat >&2 <<MSG
setup: OctoDB needs MySQL 8 or MariaDB 10.11 (account $DB_USER over TCP at $DB_HOST:$DB_PORT),
Redis at $REDIS_HOST:$REDIS_PORT and Skeema on PATH. Either start a Docker engine (then
\`docker compose up -d\` is run for you), or install them (Debian/Ubuntu, as root:
apt-get install mariadb-server redis-server skeema), or point OCTODB_MYSQL_URL and
OCTODB_REDIS_URL at servers you run.
MSG
exit 1

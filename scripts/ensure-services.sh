#!/usr/bin/env bash
# Makes sure the services the test suite talks to are up on this machine:
#   PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379,
# installing them from Debian's packages and starting them when they are not.
#
#   bash scripts/ensure-services.sh [--with-caddy]
#
#   --with-caddy  also install Debian's caddy package when the `caddy` binary is missing
#                 (test/infra/caddy.spec.ts runs the real binary).
#
# Idempotent and quiet when everything already answers. Needs root or sudo only when
# it has something to install or start. Never stops a running service.
set -euo pipefail

PG_HOST=127.0.0.1
PG_PORT=5432
REDIS_HOST=127.0.0.1
REDIS_PORT=6379
WAIT_SECONDS=30

with_caddy=0
for arg in "$@"; do
  case "$arg" in
    --with-caddy) with_caddy=1 ;;
    -h | --help)
      sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "ensure-services: unknown argument: $arg (try --help)" >&2
      exit 2
      ;;
  esac
done

say() { echo "ensure-services: $*"; }
die() {
  echo "ensure-services: ERROR: $*" >&2
  exit 1
}

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root to run '$*', and sudo is not installed"
  fi
}

apt_updated=0
apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "cannot install $*: apt-get not found (not a Debian-like system)"
  if [ "$apt_updated" -eq 0 ]; then
    say "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq ||
      die "apt-get update failed (is Debian's package mirror reachable?)"
    apt_updated=1
  fi
  say "installing $* from Debian's packages"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null ||
    die "apt-get install $* failed"
}

# Waits up to WAIT_SECONDS for "$@" to succeed.
wait_for() {
  local i
  for ((i = 0; i < WAIT_SECONDS; i++)); do
    if "$@"; then return 0; fi
    sleep 1
  done
  "$@"
}

# ----------------------------------------------------------------- PostgreSQL --------

pg_ready() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -h "$PG_HOST" -p "$PG_PORT" -q
  else
    # No client tools yet: at least something must listen on the port.
    (exec 3<>"/dev/tcp/$PG_HOST/$PG_PORT") 2>/dev/null
  fi
}

# Highest installed server version (e.g. 15), or nothing.
pg_server_version() {
  local bin
  bin=$(printf '%s\n' /usr/lib/postgresql/*/bin/postgres | sort -V | tail -n 1)
  [ -x "$bin" ] || return 0
  basename "$(dirname "$(dirname "$bin")")"
}

# Development machines only: trust TCP connections from this machine, so that the
# `postgres` role works without a password as the tests expect. Only ever applied to a
# server this script installed itself.
pg_trust_local_tcp() {
  local ver=$1 hba="/etc/postgresql/$1/main/pg_hba.conf" marker="# ensure-services.sh: local TCP trust"
  [ -f "$hba" ] || as_root test -f "$hba" || die "no $hba: cannot set local trust authentication"
  if ! as_root grep -qF "$marker" "$hba"; then
    # pg_hba.conf is read top-down and the first matching line wins: put ours first.
    as_root sed -i "1i $marker (development machine only)\\
host    all    all    127.0.0.1/32    trust\\
host    all    all    ::1/128         trust\\
" "$hba" || die "could not edit $hba"
    say "PostgreSQL $ver was installed by this script: set 'host all all 127.0.0.1/32 trust' and '::1/128 trust' in $hba (DEVELOPMENT machine only)"
  fi
}

ensure_postgres() {
  pg_ready && return 0

  local ver installed=0
  ver=$(pg_server_version)
  if [ -z "$ver" ]; then
    apt_install postgresql
    installed=1
    ver=$(pg_server_version)
    [ -n "$ver" ] || die "installed Debian's postgresql, but found no server under /usr/lib/postgresql"
  fi

  if [ ! -d "/etc/postgresql/$ver/main" ]; then
    say "creating PostgreSQL $ver cluster 'main'"
    as_root pg_createcluster "$ver" main >/dev/null || die "pg_createcluster $ver main failed"
  fi

  if [ "$installed" -eq 1 ]; then
    pg_trust_local_tcp "$ver"
  fi

  if pg_lsclusters -h 2>/dev/null | awk -v v="$ver" '$1 == v && $2 == "main" { print $4 }' | grep -q online; then
    # Running (e.g. started by the package on a systemd machine): pick up pg_hba.conf.
    if [ "$installed" -eq 1 ]; then
      as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main reload ||
        die "pg_ctlcluster $ver main reload failed"
    fi
  else
    say "starting PostgreSQL $ver cluster 'main'"
    as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start ||
      die "pg_ctlcluster $ver main start failed (see /var/log/postgresql/postgresql-$ver-main.log)"
  fi

  wait_for pg_ready ||
    die "PostgreSQL $ver does not accept connections on $PG_HOST:$PG_PORT after ${WAIT_SECONDS}s (is its port $PG_PORT? see pg_lsclusters)"

  if [ "$installed" -eq 1 ] && command -v psql >/dev/null 2>&1; then
    psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1 ||
      die "PostgreSQL answers, but user postgres cannot connect over TCP without a password"
  fi
  say "PostgreSQL $ver is up on $PG_HOST:$PG_PORT"
}

# ---------------------------------------------------------------------- Redis --------

redis_ready() {
  command -v redis-cli >/dev/null 2>&1 &&
    [ "$(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" = "PONG" ]
}

ensure_redis() {
  redis_ready && return 0

  if ! command -v redis-server >/dev/null 2>&1; then
    apt_install redis-server
    # On a machine with systemd the package starts its own server.
    redis_ready && {
      say "Redis is up on $REDIS_HOST:$REDIS_PORT (started by the package)"
      return 0
    }
  fi

  say "starting Redis on $REDIS_HOST:$REDIS_PORT"
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" \
    --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log ||
    die "redis-server failed to start (see /var/log/redis/ci.log)"

  wait_for redis_ready ||
    die "Redis does not answer PING on $REDIS_HOST:$REDIS_PORT after ${WAIT_SECONDS}s (see /var/log/redis/ci.log)"
  say "Redis is up on $REDIS_HOST:$REDIS_PORT"
}

# ---------------------------------------------------------------------- Caddy --------

ensure_caddy() {
  command -v caddy >/dev/null 2>&1 && return 0
  apt_install caddy
  command -v caddy >/dev/null 2>&1 || die "installed Debian's caddy package, but 'caddy' is not on PATH"
  say "installed $(caddy version | head -n 1 | cut -d' ' -f1) (caddy)"
}

ensure_postgres
ensure_redis
if [ "$with_caddy" -eq 1 ]; then
  ensure_caddy
fi

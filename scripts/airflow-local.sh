#!/usr/bin/env bash
# Local Airflow 3 without Docker: a PostgreSQL cluster for the metadata database, then api-server,
# scheduler, dag-processor and triggerer, all bound to 127.0.0.1 (log servers off: logs are read from
# local files), LocalExecutor running up to AIRFLOW_PARALLELISM task instances at once (the mapped
# extract tasks in parallel), examples off, the project's dags/.
# PostgreSQL: the server binaries of Debian's `postgresql` package (/usr/lib/postgresql/<v>/bin, or
# PG_BINDIR); the cluster is $AIRFLOW_HOME/postgres/data, listening on 127.0.0.1 only (no Unix socket),
# run as the `postgres` user when this script runs as root (the server refuses root). The password of
# its role `airflow` is random, in $AIRFLOW_HOME/postgres/password; Airflow reads the connection URL
# from a file ($AIRFLOW_HOME/postgres/sql_alchemy_conn, AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD), so
# no process environment holds it. Both are under AIRFLOW_HOME, git-ignored.
# Credentials: the simple auth manager's passwords file .airflow-passwords.json (never committed;
# created with a random password on first start) and a JWT secret in $AIRFLOW_HOME/.jwt_secret.
#   scripts/airflow-local.sh start | stop | status | env
# Overrides: AIRFLOW_HOME, AIRFLOW_PORT (8080), AIRFLOW_PG_PORT (5433), AIRFLOW_PARALLELISM (4),
# AIRFLOW_PG_USER (postgres), PG_BINDIR, DEEPFAKE_PROJECT_DIR (the checkout the tasks work in).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${DEEPFAKE_VENV:-$ROOT/.venv}"
export PATH="$VENV/bin:$PATH"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$ROOT/airflow_home}"
PORT="${AIRFLOW_PORT:-8080}"
RUN="$AIRFLOW_HOME/run"
PASSWORDS="${AIRFLOW_PASSWORDS_FILE:-$ROOT/.airflow-passwords.json}"
COMPONENTS=(api-server scheduler dag-processor triggerer)
PG_PORT="${AIRFLOW_PG_PORT:-5433}"
PG_USER="${AIRFLOW_PG_USER:-postgres}"
PG_DIR="$AIRFLOW_HOME/postgres"
PG_DATA="$PG_DIR/data"
PG_LOG="$PG_DATA/server.log"
PG_INSTALL="apt-get install -y postgresql"

configure() {
  mkdir -p "$RUN"
  umask 077
  if [[ ! -s "$PASSWORDS" ]]; then
    python -c 'import json,secrets,sys; json.dump({"admin": secrets.token_urlsafe(16)}, open(sys.argv[1], "w"))' "$PASSWORDS"
    echo "created $PASSWORDS (user admin; read the password there)"
  fi
  [[ -s "$AIRFLOW_HOME/.jwt_secret" ]] || python -c 'import secrets; print(secrets.token_urlsafe(48))' > "$AIRFLOW_HOME/.jwt_secret"
  umask 022
  export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
  export AIRFLOW__CORE__LOAD_EXAMPLES=False
  export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=False  # a paused retrain DAG ignores drift events
  export AIRFLOW__CORE__EXECUTOR=LocalExecutor
  export AIRFLOW__CORE__PARALLELISM="${AIRFLOW_PARALLELISM:-4}"  # task instances running at once
  export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD="cat '$PG_DIR/sql_alchemy_conn'"
  export AIRFLOW__CORE__AUTH_MANAGER=airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager
  export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=admin:admin
  export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="$PASSWORDS"
  export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$PORT/execution/"
  export AIRFLOW__API__HOST=127.0.0.1
  export AIRFLOW__API__PORT="$PORT"
  export AIRFLOW__API__BASE_URL="http://127.0.0.1:$PORT"
  AIRFLOW__API_AUTH__JWT_SECRET="$(cat "$AIRFLOW_HOME/.jwt_secret")"
  export AIRFLOW__API_AUTH__JWT_SECRET
  export AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK=False
  export DEEPFAKE_PROJECT_DIR="${DEEPFAKE_PROJECT_DIR:-$ROOT}" DEEPFAKE_VENV="$VENV"  # where tasks run dvc
  export BENTOML_DO_NOT_TRACK=true DO_NOT_TRACK=1 DVC_NO_ANALYTICS=1 SCARF_ANALYTICS=false
  export GX_ANALYTICS_ENABLED=false TF_CPP_MIN_LOG_LEVEL=2
}

pg_bindir() {  # the newest PostgreSQL server binaries: PG_BINDIR, Debian's /usr/lib/postgresql/<v>/bin, PATH
  local d
  if [[ -n "${PG_BINDIR:-}" ]]; then echo "$PG_BINDIR"; return; fi
  d="$(find /usr/lib/postgresql -maxdepth 3 -path '*/bin/initdb' 2> /dev/null | sort -V | tail -1)"
  [[ -n "$d" ]] || d="$(command -v initdb 2> /dev/null)" || true
  if [[ -z "$d" ]]; then
    echo "PostgreSQL server binaries not found: $PG_INSTALL (Debian), or set PG_BINDIR" >&2
    return 1
  fi
  dirname "$d"
}

as_pg() {  # run a server command as the cluster's owner: PostgreSQL refuses to run as root
  if [[ "$(id -u)" == 0 ]]; then runuser -u "$PG_USER" -- "$@"; else "$@"; fi
}

pg_running() { [[ -s "$PG_DATA/PG_VERSION" ]] && as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status > /dev/null 2>&1; }

pg_init() {  # first start: the cluster, role airflow with a random password, its connection URL
  PG_BIN="$(pg_bindir)"
  if [[ "$(id -u)" == 0 ]] && ! id -u "$PG_USER" > /dev/null 2>&1; then
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$PG_USER"
  fi
  mkdir -p "$PG_DIR" && chmod 711 "$PG_DIR"  # the server's user reaches data/, not the password
  if ! as_pg test -x "$PG_DIR"; then
    echo "user $PG_USER cannot reach $PG_DIR: a parent folder is not world-searchable (chmod o+x it, or set AIRFLOW_HOME)" >&2
    exit 1
  fi
  umask 077
  [[ -s "$PG_DIR/password" ]] || python -c 'import secrets; print(secrets.token_urlsafe(24))' > "$PG_DIR/password"
  # no trailing newline: Airflow takes a _CMD's output as it is
  printf 'postgresql+psycopg2://airflow:%s@127.0.0.1:%s/airflow' "$(cat "$PG_DIR/password")" "$PG_PORT" \
    > "$PG_DIR/sql_alchemy_conn"
  umask 022
  [[ -s "$PG_DATA/PG_VERSION" ]] && return
  local pwfile
  pwfile="$(mktemp "$PG_DIR/pwfile.XXXXXX")"  # initdb runs as $PG_USER: it reads a copy it owns
  cp "$PG_DIR/password" "$pwfile"
  mkdir -p "$PG_DATA" && chmod 700 "$PG_DATA"
  if [[ "$(id -u)" == 0 ]]; then chown "$PG_USER" "$pwfile" "$PG_DATA"; fi
  as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U airflow --pwfile="$pwfile" --auth=scram-sha-256 -E UTF8 --no-locale \
    > "$RUN/initdb.log" 2>&1 || { rm -f "$pwfile"; tail -20 "$RUN/initdb.log"; exit 1; }
  rm -f "$pwfile"
  printf "listen_addresses = '127.0.0.1'\nunix_socket_directories = ''\n" | as_pg tee -a "$PG_DATA/postgresql.conf" > /dev/null
  echo "created PostgreSQL cluster $PG_DATA (role airflow; password in $PG_DIR/password)"
}

pg_start() {
  pg_init
  if pg_running; then
    echo "postgres already running"
  else
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -o "-p $PG_PORT" -w -t 60 start > /dev/null \
      || { tail -20 "$PG_LOG" >&2; exit 1; }
    echo "started postgres on 127.0.0.1:$PG_PORT (log $PG_LOG)"
  fi
  local sql=(env PGPASSWORD="$(cat "$PG_DIR/password")" "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U airflow -d postgres -qtAc)
  [[ "$("${sql[@]}" "SELECT 1 FROM pg_database WHERE datname = 'airflow'")" == 1 ]] \
    || "${sql[@]}" "CREATE DATABASE airflow" > /dev/null
}

pg_stop() {
  [[ -s "$PG_DATA/PG_VERSION" ]] || return 0
  PG_BIN="$(pg_bindir)"
  if pg_running; then
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop > /dev/null
    echo "stopped postgres"
  fi
}

running() { [[ -s "$RUN/$1.pid" ]] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

launch() {  # launch COMPONENT: start it in its own session, pid and log under $RUN
  local c="$1" args
  if running "$c"; then echo "$c already running (pid $(cat "$RUN/$c.pid"))"; return; fi
  case "$c" in
    api-server) args=(api-server --host 127.0.0.1 --port "$PORT") ;;
    scheduler) args=(scheduler --skip-serve-logs) ;;
    triggerer) args=(triggerer --skip-serve-logs) ;;
    *) args=("$c") ;;
  esac
  setsid nohup airflow "${args[@]}" > "$RUN/$c.log" 2>&1 < /dev/null &
  echo $! > "$RUN/$c.pid"
  echo "started $c (pid $!, log $RUN/$c.log)"
}

start() {
  configure
  pg_start
  airflow db migrate > "$RUN/db-migrate.log" 2>&1 || { tail -20 "$RUN/db-migrate.log"; exit 1; }
  # the api-server first: tasks report to its execution API, so nothing may run before it answers
  launch api-server
  local up=""
  for _ in $(seq 1 120); do
    if curl -fsS "http://127.0.0.1:$PORT/api/v2/monitor/health" > /dev/null 2>&1; then up=1; break; fi
    sleep 2
  done
  [[ -n "$up" ]] || { echo "api-server did not answer on 127.0.0.1:$PORT; see $RUN/api-server.log" >&2; exit 1; }
  for c in scheduler dag-processor triggerer; do launch "$c"; done
  echo "Airflow is up on http://127.0.0.1:$PORT (user admin, password in $PASSWORDS)"
}

stop() {
  for c in "${COMPONENTS[@]}"; do
    if running "$c"; then
      pid="$(cat "$RUN/$c.pid")"
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
      for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -0 "$pid" 2>/dev/null && kill -KILL -- "-$pid" 2>/dev/null
      echo "stopped $c (pid $pid)"
    fi
    rm -f "$RUN/$c.pid"
  done
  pg_stop
}

status() {
  for c in "${COMPONENTS[@]}"; do
    if running "$c"; then echo "$c: running (pid $(cat "$RUN/$c.pid"))"; else echo "$c: stopped"; fi
  done
  PG_BIN="$(pg_bindir)"
  if pg_running; then echo "postgres: running (127.0.0.1:$PG_PORT, $PG_DATA)"; else echo "postgres: stopped"; fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) configure; env | grep -E '^(AIRFLOW|DEEPFAKE)' | grep -v -E 'JWT_SECRET' ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac

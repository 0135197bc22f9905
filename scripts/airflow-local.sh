#!/usr/bin/env bash
# Local Airflow 3 without Docker: api-server, scheduler, dag-processor and triggerer, all bound to
# 127.0.0.1 (log servers off: logs are read from local files), examples off, the project's dags/.
# Credentials: the simple auth manager's passwords file .airflow-passwords.json (never committed;
# created with a random password on first start) and a JWT secret in $AIRFLOW_HOME/.jwt_secret.
#   scripts/airflow-local.sh start | stop | status
# Overrides: AIRFLOW_HOME, AIRFLOW_PORT (8080), DEEPFAKE_PROJECT_DIR (the checkout the tasks work in).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${DEEPFAKE_VENV:-$ROOT/.venv}"
export PATH="$VENV/bin:$PATH"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$ROOT/airflow_home}"
PORT="${AIRFLOW_PORT:-8080}"
RUN="$AIRFLOW_HOME/run"
PASSWORDS="${AIRFLOW_PASSWORDS_FILE:-$ROOT/.airflow-passwords.json}"
COMPONENTS=(api-server scheduler dag-processor triggerer)

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
}

status() {
  for c in "${COMPONENTS[@]}"; do
    if running "$c"; then echo "$c: running (pid $(cat "$RUN/$c.pid"))"; else echo "$c: stopped"; fi
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) configure; env | grep -E '^(AIRFLOW|DEEPFAKE)' | grep -v -E 'JWT_SECRET' ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# The README's "run the product" command: works on a fresh clone of this kind of
# machine (Debian, Node.js 20.19+). It
#   1. installs the npm packages if needed, and starts (or installs) PostgreSQL and Redis;
#   2. writes a development .env with fresh secrets on the first run (kept otherwise);
#   3. builds (npm run build);
#   4. creates and migrates the database (db:setup) and seeds the demo tenant (seed:demo);
#   5. starts the API and the worker, waits until GET /health/ready answers 200,
#      prints where everything is and a few curl commands to try;
#   6. on Ctrl-C or SIGTERM stops both processes gracefully (SIGTERM, SIGKILL after 30 s).
#
#   bash scripts/run.sh
#
# Environment:
#   IBHQ_JSON_LOGS=1  print the processes' raw JSON logs instead of pino-pretty's lines.
#   Variables set in the environment win over .env (Node's --env-file rule), e.g.
#   API_PORT=3100 bash scripts/run.sh when port 3000 is taken.
# Raw JSON logs of the last run are also kept in .tmp/run/{api,worker}.log.
#
# The API and the worker run in sessions of their own, so only this script receives the
# terminal's Ctrl-C and stops them in order. (A script started in the background by a
# non-interactive shell ignores SIGINT, as POSIX has it: stop it with SIGTERM then.)
set -euo pipefail
cd "$(dirname "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")")"

STOP_GRACE_SECONDS=30
READY_TIMEOUT_SECONDS=60
LOG_DIR=.tmp/run
CLI=dist/apps/cli/apps/cli/src/main.js
API=dist/apps/api/apps/api/src/main.js
WORKER=dist/apps/worker/apps/worker/src/main.js

if [ -t 1 ]; then
  bold=$'\e[1m' dim=$'\e[2m' red=$'\e[31m' cyan=$'\e[36m' magenta=$'\e[35m' reset=$'\e[0m'
else
  bold='' dim='' red='' cyan='' magenta='' reset=''
fi
say() { printf '%srun:%s %s\n' "$bold" "$reset" "$*"; }
die() {
  printf '%srun: ERROR:%s %s\n' "$red" "$reset" "$*" >&2
  exit 1
}

# ------------------------------------------------------------- packages, services ----
bash scripts/ensure-deps.sh
bash scripts/ensure-services.sh
command -v setsid >/dev/null 2>&1 || die "setsid (util-linux) is required"

# ---------------------------------------------------------------------------- .env ----
if [ -f .env ]; then
  say "using the existing .env"
else
  (
    umask 077
    node scripts/make-env.mjs >.env.new
  )
  mv .env.new .env
  say "created .env with fresh development secrets (scripts/make-env.mjs; git ignores it)"
fi

# A variable as the processes will see it: the environment first, then .env.
env_value() {
  node --env-file=.env -e 'process.stdout.write(process.env[process.argv[1]] ?? "")' "$1"
}

# ----------------------------------------------------------------------------- port ----
host=$(env_value API_HOST)
host=${host:-127.0.0.1}
port=$(env_value API_PORT)
port=${port:-3000}
[ "$port" != 0 ] || die "API_PORT=0 (a random port) cannot be used here: set a fixed port"
# Refuses (before the build, and again just before starting) when the port is taken.
check_port() {
  if ! node -e '
    const server = require("node:net").createServer();
    server.once("error", () => process.exit(1));
    server.listen({ host: process.argv[1], port: Number(process.argv[2]), exclusive: true }, () =>
      server.close(() => process.exit(0)),
    );' "$host" "$port"; then
    ss -ltnp "sport = :$port" >&2 2>/dev/null || true
    die "port $port ($host) is already in use: stop what listens there, or run with another port, e.g. API_PORT=$((port + 100)) bash scripts/run.sh"
  fi
}
check_port
case "$host" in
  0.0.0.0 | '::' | '[::]') client_host=127.0.0.1 ;;
  *:*) client_host="[$host]" ;;
  *) client_host=$host ;;
esac
base="http://$client_host:$port"

# --------------------------------------------------------------------------- build ----
mkdir -p "$LOG_DIR"
say "building (npm run build)..."
if ! npm run build >"$LOG_DIR/build.log" 2>&1; then
  cat "$LOG_DIR/build.log" >&2
  die "npm run build failed (output above)"
fi

# ------------------------------------------------------------------ database, seed ----
say "database: db:setup"
node --env-file=.env "$CLI" db:setup || die "db:setup failed (is DATABASE_ADMIN_URL in .env a superuser?)"
seed_output=$(node --env-file=.env "$CLI" seed:demo) || die "seed:demo failed"
printf '%s\n' "$seed_output"
tenant_id=$(grep -oE '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}' <<<"$seed_output" | head -n 1 || true)
[ -n "$tenant_id" ] || die "could not read the demo tenant id from seed:demo's output"

# ---------------------------------------------------------------------- processes ----
api_pid='' worker_pid=''

# Starts `node <entry>` in a session of its own (so a Ctrl-C in the terminal reaches
# only this script, which then stops the processes in order) with its output teed to
# $LOG_DIR/<name>.log and shown pretty-printed (or raw JSON with IBHQ_JSON_LOGS=1).
# Sets the variable <name>_pid to the node process's id.
start() {
  local name=$1 entry=$2 color=$3 label pid
  label=$(printf '%s%-6s%s|' "$color" "$name" "$reset")
  : >"$LOG_DIR/$name.log"
  if [ "${IBHQ_JSON_LOGS:-0}" = 1 ]; then
    setsid node --enable-source-maps --env-file=.env "$entry" \
      > >(exec setsid tee -a "$LOG_DIR/$name.log") 2>&1 &
  else
    # shellcheck disable=SC2054 # service,context is one argument
    local pretty=(node_modules/.bin/pino-pretty -t 'SYS:HH:MM:ss.l' -i service,context -S
      -o '{if context}{context}: {end}{msg}')
    [ -t 1 ] && pretty+=(--colorize)
    # shellcheck disable=SC2016 # expanded by the inner bash
    setsid node --enable-source-maps --env-file=.env "$entry" \
      > >(exec setsid bash -c '
        tee -a "$1" | "${@:3}" | sed -u "s/^/$2 /"' _ "$LOG_DIR/$name.log" "$label" "${pretty[@]}") 2>&1 &
  fi
  pid=$!
  printf -v "${name}_pid" '%s' "$pid"
}

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

# SIGTERM to both, then SIGKILL to whatever still runs after STOP_GRACE_SECONDS.
stop_children() {
  local pids=() pid i
  for pid in "$api_pid" "$worker_pid"; do alive "$pid" && pids+=("$pid"); done
  [ "${#pids[@]}" -gt 0 ] || return 0
  kill -TERM "${pids[@]}" 2>/dev/null || true
  for ((i = 0; i < STOP_GRACE_SECONDS * 10; i++)); do
    alive "$api_pid" || alive "$worker_pid" || break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do
    if alive "$pid"; then
      say "process $pid did not stop within ${STOP_GRACE_SECONDS}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  wait 2>/dev/null || true # the children and their log pipes
}

# shellcheck disable=SC2317 # called by the trap below
on_signal() {
  trap '' INT TERM HUP
  echo
  say "stopping the API and the worker (up to ${STOP_GRACE_SECONDS}s)..."
  stop_children
  say "stopped"
  trap - EXIT
  exit 0
}

show_logs() {
  local name
  for name in api worker; do
    printf '\n%s--- last lines of %s/%s.log ---%s\n' "$bold" "$LOG_DIR" "$name" "$reset" >&2
    tail -n 40 "$LOG_DIR/$name.log" >&2 || true
  done
}

trap stop_children EXIT
trap on_signal INT TERM HUP

check_port
say "starting the API and the worker"
start api "$API" "$cyan"
start worker "$WORKER" "$magenta"

http_status() {
  node -e '
    fetch(process.argv[1], { signal: AbortSignal.timeout(2000) })
      .then((r) => { process.stdout.write(String(r.status)); }, () => process.stdout.write("000"));
  ' "$1"
}

ready=0
for ((i = 0; i < READY_TIMEOUT_SECONDS * 2; i++)); do
  alive "$api_pid" || {
    show_logs
    die "the API exited during start-up (logs above)"
  }
  alive "$worker_pid" || {
    show_logs
    die "the worker exited during start-up (logs above)"
  }
  if [ "$(http_status "$base/health/ready")" = 200 ] && grep -q '"msg":"worker running"' "$LOG_DIR/worker.log"; then
    ready=1
    break
  fi
  sleep 0.5
done
if [ "$ready" -ne 1 ]; then
  show_logs
  die "not ready after ${READY_TIMEOUT_SECONDS}s: GET $base/health/ready did not answer 200 or the worker did not start (logs above)"
fi

# ------------------------------------------------------------------------- banner ----
# A lead of the demo tenant, so that the commands below can be pasted as they are.
demo_login=$(grep -oE 'demo owner: [^ ]+ / [^ ]+' <<<"$seed_output" || true)
demo_email=$(cut -d' ' -f3 <<<"$demo_login")
demo_password=$(cut -d' ' -f5 <<<"$demo_login")
lead_id=$(
  node -e '
    const [base, email, password] = process.argv.slice(1);
    fetch(`${base}/v1/auth/login`, { method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ email, password }) })
      .then((r) => r.json())
      .then(({ token }) => fetch(`${base}/v1/leads?limit=1`, { headers: { authorization: `Bearer ${token}` } }))
      .then((r) => r.json())
      .then((page) => process.stdout.write(page.items?.[0]?.id ?? ""), () => {});
  ' "$base" "$demo_email" "$demo_password"
)
lead_id=${lead_id:-<lead-id>}
metrics_note=''
# shellcheck disable=SC2016 # shown literally
[ -n "$(env_value METRICS_TOKEN)" ] && metrics_note=' (needs: -H "authorization: Bearer $METRICS_TOKEN")'
# shellcheck disable=SC2016 # $TOKEN is the reader's shell variable, shown literally
auth='-H "authorization: Bearer $TOKEN"'
json="-H 'content-type: application/json'"

cat <<EOF

${bold}IBHQ is running${reset}  (API pid $api_pid, worker pid $worker_pid; Ctrl-C stops both)
  API          $base
  API docs     $base/docs
  OpenAPI      $base/openapi.json
  Health       $base/health/ready   (liveness: $base/health/live)
  Metrics      $base/metrics$metrics_note
  Demo tenant  $tenant_id
  Demo owner   $demo_email / $demo_password
  Logs (JSON)  $LOG_DIR/api.log  $LOG_DIR/worker.log

${bold}Try it${reset}
${dim}# 1. sign in as the demo owner (the answer's "token" is a session token, 24 h sliding)${reset}
TOKEN=\$(curl -s -X POST '$base/v1/auth/login' $json -d '{"email":"$demo_email","password":"$demo_password"}' | node -pe 'JSON.parse(require("fs").readFileSync(0)).token')

${dim}# 2. list the demo tenant's leads, and create one${reset}
curl -s '$base/v1/leads' $auth
curl -s -X POST '$base/v1/leads' $auth $json -d '{"displayName":"Erin Newcomer"}'

${dim}# 3. add a note to a lead (201), then read the lead's timeline${reset}
curl -s -X POST '$base/v1/leads/$lead_id/notes' $auth $json -d '{"body":"Asked about the spread on XAUUSD"}'; curl -s '$base/v1/leads/$lead_id/activities' $auth

${dim}# 4. invite a member, read the invitation e-mail in the outbox, see the audit trail${reset}
curl -s -X POST '$base/v1/invitations' $auth $json -d '{"email":"agent@example.com","role":"agent"}'
node --env-file=.env $CLI outbox:show $tenant_id
curl -s '$base/v1/audit-events' $auth

EOF

# --------------------------------------------------------------------------- wait ----
# Returns when either process exits (or at once, through on_signal, on Ctrl-C/SIGTERM).
status=0
wait -n "$api_pid" "$worker_pid" || status=$?
if alive "$api_pid"; then gone=worker; else gone=api; fi
say "the $gone process exited (status $status): stopping the other one"
stop_children
exit 1

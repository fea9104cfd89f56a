#!/usr/bin/env bash
# The README's test command: works on a fresh clone. Installs packages if needed,
# brings up PostgreSQL and Redis (and Debian's caddy, which a test runs) when they
# are not running, then runs the whole suite (scripts/test.mjs). The last line of
# output is "N passed, N failed".
set -euo pipefail
cd "$(dirname "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")")"
bash scripts/ensure-deps.sh
bash scripts/ensure-services.sh --with-caddy
exec node scripts/test.mjs

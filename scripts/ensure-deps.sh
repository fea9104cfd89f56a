#!/usr/bin/env bash
# Installs the npm packages when node_modules is missing or older than
# package-lock.json. Quiet when nothing needs doing.
#
# `npm install`, not `npm ci`: the lockfile cannot list other platforms' optional
# packages (@swc/core-darwin-*, msgpackr-extract-win32-*...) because the registry these
# machines reach does not serve them, and `npm ci` refuses such a lockfile as "out of
# sync". `npm install` installs the lockfile's versions all the same and leaves it
# unchanged.
set -euo pipefail
cd "$(dirname "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")")"
if ! command -v node >/dev/null 2>&1; then
  echo "Node.js 20.19 or newer is required (see .nvmrc)." >&2
  exit 1
fi
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' || {
  echo "Node.js $(node -v) is too old: IBHQ needs 20.19 or newer (see .nvmrc)." >&2
  exit 1
}
marker=node_modules/.package-lock.json
if [ ! -f "$marker" ] || [ package-lock.json -nt "$marker" ]; then
  echo "Installing npm packages..."
  npm install --no-audit --no-fund --loglevel=error
fi

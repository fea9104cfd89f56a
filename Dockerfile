# One image for the three IBHQ processes; the command picks the process:
#   api     node --enable-source-maps dist/apps/api/apps/api/src/main.js   (the default CMD)
#   worker  node --enable-source-maps dist/apps/worker/apps/worker/src/main.js
#   cli     node dist/apps/cli/apps/cli/src/main.js db:setup | db:migrate | seed:demo
# Build: docker build -t ibhq .   (docker-compose.yml builds it the same way)

ARG NODE_IMAGE=node:20.20-bookworm-slim

# --- deps: every dependency, from the lock file only ---------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the project's npm (11) runs no dependency install scripts by default
# and nothing needs them (bcrypt-style prebuilds load at run time; Prisma's postinstall
# would only download engines the app does not use). The image's npm 10 would run them.
RUN --mount=type=cache,target=/root/.npm \
    npm install --ignore-scripts --no-audit --no-fund

# --- build: Prisma client + the three Nest apps, then drop dev dependencies ----------
FROM deps AS build
COPY . .
RUN npm run build \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

# --- runtime: node, production dependencies, compiled code, migrations ---------------
FROM ${NODE_IMAGE} AS runtime
# No package managers in the image that runs: the processes are started with node
# directly, and what is not there cannot be abused.
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
           /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
           /usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-*
ENV NODE_ENV=production \
    API_HOST=0.0.0.0 \
    API_PORT=3000
WORKDIR /app
# Owned by root and read-only to the process: the app cannot rewrite its own code.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The CLI reads prisma/migrations (and the schema) at run time.
COPY --from=build /app/prisma ./prisma
# The unprivileged user of the official node image (uid 1000).
USER node
EXPOSE 3000
# For the api only; docker-compose.yml disables it for the worker and the one-shot CLI.
# Slim has no curl: node's fetch does it.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.API_PORT || '3000') + '/health/live', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "--enable-source-maps", "dist/apps/api/apps/api/src/main.js"]

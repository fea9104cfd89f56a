// The environment of the built API, and of the processes that load its libraries:
// the benchmark database and Redis, fresh keys unless given.
import { randomBytes } from 'node:crypto';

export const fernetKey = () => `${randomBytes(32).toString('base64url')}=`;
export const signingKey = () => randomBytes(32).toString('base64url');

/** What the API's libraries read: log level, database, Redis, keys. */
export function appEnv(
  ctx,
  {
    logLevel,
    redisPrefix = ctx.redisPrefix,
    keys = { fernet: fernetKey(), signing: signingKey() },
  },
) {
  return {
    NODE_ENV: 'development',
    LOG_LEVEL: logLevel,
    DATABASE_URL: ctx.urls.app,
    DATABASE_POOL_SIZE: String(ctx.options.pool),
    REDIS_URL: ctx.redisUrl,
    REDIS_KEY_PREFIX: redisPrefix,
    FERNET_KEYS: keys.fernet,
    SIGNING_KEYS: keys.signing,
  };
}

/** The API server on 127.0.0.1:`port`, with the development tenant header allowed. */
export function apiEnv(ctx, port, settings) {
  return {
    ...appEnv(ctx, settings),
    API_HOST: '127.0.0.1',
    API_PORT: String(port),
    API_PUBLIC_URL: `http://127.0.0.1:${port}`,
    DEV_TENANT_HEADER: 'true',
  };
}

import { z } from 'zod';

const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const csv = z.string().transform((v) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0),
);

const url = (protocols: readonly string[]) =>
  z.string().refine(
    (v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be a URL (${protocols.join(' or ')}//...)` },
  );

const postgresUrl = url(['postgres:', 'postgresql:']);

/** A Fernet key: 32 bytes in URL-safe base64 (44 characters with padding). */
const fernetKey = /^[A-Za-z0-9_-]{43}=$/;

/**
 * Every environment variable the processes read, with its description. This object
 * is the single source of truth: `.env.example` and the README table are checked
 * against it by a test.
 */
export const configSchema = z
  .object({
    NODE_ENV: z
      .enum(['development', 'test', 'production'])
      .default('development')
      .describe('Runtime mode. `production` refuses development-only switches.'),
    LOG_LEVEL: z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
      .default('info')
      .describe('Minimum level of the JSON logs written to stdout.'),

    DATABASE_URL: postgresUrl.describe(
      'PostgreSQL URL of the application role (not owner, not superuser, no BYPASSRLS). Required.',
    ),
    DATABASE_POOL_SIZE: int(1, 500)
      .default(10)
      .describe('Connections per process in the application pool.'),
    DATABASE_STATEMENT_TIMEOUT_MS: int(100, 600_000)
      .default(15_000)
      .describe('statement_timeout of application connections, in milliseconds.'),
    DATABASE_OWNER_URL: postgresUrl
      .optional()
      .describe(
        'PostgreSQL URL of the owner role that runs migrations (`npm run db:migrate`). Not used by the API or worker.',
      ),
    DATABASE_ADMIN_URL: postgresUrl
      .optional()
      .describe(
        'Superuser URL used once by `npm run db:setup` to create the owner role and the database (development).',
      ),

    REDIS_URL: url(['redis:', 'rediss:']).describe('Redis URL (BullMQ queues, leases). Required.'),
    REDIS_KEY_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,40}$/, 'letters, digits, _ and - only (1-40)')
      .default('ibhq')
      .describe('Prefix of every Redis key and BullMQ queue of this deployment.'),

    FERNET_KEYS: csv
      .refine((keys) => keys.length > 0, { message: 'needs at least one key' })
      .refine((keys) => keys.every((k) => fernetKey.test(k)), {
        message: 'each key must be 32 bytes in URL-safe base64 (44 characters)',
      })
      .describe(
        'Comma-separated Fernet keys. The first encrypts; any decrypts; rotation re-encrypts under the first. Required.',
      ),
    SIGNING_KEYS: csv
      .refine((keys) => keys.length > 0, { message: 'needs at least one key' })
      .refine((keys) => keys.every((k) => k.length >= 32), {
        message: 'each key must be at least 32 characters',
      })
      .describe(
        'Comma-separated HMAC-SHA256 keys for signed links and webhooks. The first signs; any verifies. Required.',
      ),

    API_HOST: z.string().min(1).default('127.0.0.1').describe('Interface the API listens on.'),
    API_PORT: int(0, 65_535).default(3000).describe('Port the API listens on.'),
    API_PUBLIC_URL: url(['http:', 'https:'])
      .default('http://localhost:3000')
      .describe('Public base URL of the API, used in links the API hands out.'),
    CORS_ORIGINS: csv
      .default([])
      .describe('Comma-separated origins allowed by CORS (empty: no cross-origin access).'),
    BODY_LIMIT_BYTES: int(1024, 100 * 1024 * 1024)
      .default(1024 * 1024)
      .describe('Largest accepted request body, in bytes.'),
    IMPORT_MAX_BYTES: int(1024, 2 * 1024 * 1024 * 1024)
      .default(200 * 1024 * 1024)
      .describe(
        'Largest CSV file a lead import accepts, in bytes (the upload is streamed, not held in memory).',
      ),
    TRUST_PROXY: bool
      .default(false)
      .describe('Trust X-Forwarded-* headers (set when behind Caddy or another proxy).'),
    METRICS_TOKEN: z
      .string()
      .min(16)
      .optional()
      .describe('When set, GET /metrics requires `Authorization: Bearer <token>`.'),
    DEV_TENANT_HEADER: bool
      .default(false)
      .describe(
        'Development and benchmarks only: requests with an X-Tenant-Id header and no credentials act as the system in that tenant, without signing in. Refused in production.',
      ),

    BCRYPT_COST: int(4, 15)
      .default(12)
      .describe('bcrypt cost factor of password hashes (each step doubles the work).'),
    SESSION_TTL_SECONDS: int(300, 86_400)
      .default(86_400)
      .describe('Idle lifetime of a session, in seconds: sliding, at most 24 h.'),
    INVITATION_TTL_HOURS: int(1, 720)
      .default(168)
      .describe('How long an invitation link stays valid, in hours.'),
    API_KEY_RATE_LIMIT_PER_MINUTE: int(1, 1_000_000)
      .default(600)
      .describe('Requests per minute per API key, unless the tenant sets its own limit.'),
    TELEGRAM_BOT_TOKEN: z
      .string()
      .regex(
        /^\d{5,20}:[A-Za-z0-9_-]{30,64}$/,
        'must look like 123456:ABC-DEF... (from @BotFather)',
      )
      .optional()
      .describe(
        'Token of the bot behind the Telegram Login Widget. Unset: Telegram sign-in is off.',
      ),
    TELEGRAM_LOGIN_MAX_AGE_SECONDS: int(60, 604_800)
      .default(86_400)
      .describe('Oldest Telegram Login Widget authorisation (auth_date) accepted, in seconds.'),
    STAFF_EMAILS: csv
      .default([])
      .describe(
        'Comma-separated e-mails of IBHQ staff: they may open a tenant for reading, with a reason, through the audited break-glass call.',
      ),

    WORKER_CONCURRENCY: int(1, 1000).default(8).describe('Jobs a worker runs at once per queue.'),
    SHUTDOWN_TIMEOUT_MS: int(1000, 600_000)
      .default(25_000)
      .describe('How long a stopping process waits for running work before handing it back.'),
    JOB_KEEP_COMPLETED_SECONDS: int(0, 86_400)
      .default(3_600)
      .describe('How long a completed job stays in Redis (at most 24 h).'),
    JOB_KEEP_FAILED_SECONDS: int(0, 86_400)
      .default(86_400)
      .describe('How long a failed job stays in Redis (at most 24 h).'),
  })
  .superRefine((cfg, ctx) => {
    if (cfg.NODE_ENV === 'production' && cfg.DEV_TENANT_HEADER) {
      ctx.addIssue({
        code: 'custom',
        path: ['DEV_TENANT_HEADER'],
        message: 'must not be enabled when NODE_ENV=production',
      });
    }
  });

export type ConfigEnv = z.infer<typeof configSchema>;

/** Names of every variable, in declaration order. */
export const configVariableNames = Object.keys(configSchema.shape) as (keyof ConfigEnv)[];

import { type ConfigEnv, configSchema } from './config.schema.js';

export class ConfigError extends Error {
  constructor(readonly problems: readonly { variable: string; message: string }[]) {
    super(
      `Invalid configuration:\n${problems.map((p) => `  - ${p.variable}: ${p.message}`).join('\n')}`,
    );
    this.name = 'ConfigError';
  }
}

/**
 * The validated configuration, read once at boot. It is also the DI token: inject
 * `AppConfig` to read it. The API and the worker read `process.env` nowhere else
 * (the CLI's database commands read only the URLs they need).
 */
export class AppConfig {
  readonly env: ConfigEnv['NODE_ENV'];
  readonly logLevel: ConfigEnv['LOG_LEVEL'];
  readonly database: {
    readonly url: string;
    readonly poolSize: number;
    readonly statementTimeoutMs: number;
    readonly ownerUrl: string | undefined;
    readonly adminUrl: string | undefined;
  };
  readonly redis: { readonly url: string; readonly keyPrefix: string };
  readonly crypto: {
    readonly fernetKeys: readonly string[];
    readonly signingKeys: readonly string[];
  };
  readonly api: {
    readonly host: string;
    readonly port: number;
    readonly publicUrl: string;
    readonly corsOrigins: readonly string[];
    readonly bodyLimitBytes: number;
    readonly trustProxy: boolean;
    readonly metricsToken: string | undefined;
    readonly devTenantHeader: boolean;
  };
  readonly auth: {
    readonly bcryptCost: number;
    readonly sessionTtlSeconds: number;
    readonly invitationTtlHours: number;
    readonly apiKeyRateLimitPerMinute: number;
    readonly telegramBotToken: string | undefined;
    readonly telegramLoginMaxAgeSeconds: number;
    readonly staffEmails: readonly string[];
  };
  readonly imports: {
    /** IMPORT_MAX_BYTES: the largest CSV file a lead import accepts. */
    readonly maxBytes: number;
  };
  readonly worker: {
    readonly concurrency: number;
    readonly shutdownTimeoutMs: number;
    readonly keepCompletedSeconds: number;
    readonly keepFailedSeconds: number;
  };

  constructor(e: ConfigEnv) {
    this.env = e.NODE_ENV;
    this.logLevel = e.LOG_LEVEL;
    this.database = {
      url: e.DATABASE_URL,
      poolSize: e.DATABASE_POOL_SIZE,
      statementTimeoutMs: e.DATABASE_STATEMENT_TIMEOUT_MS,
      ownerUrl: e.DATABASE_OWNER_URL,
      adminUrl: e.DATABASE_ADMIN_URL,
    };
    this.redis = { url: e.REDIS_URL, keyPrefix: e.REDIS_KEY_PREFIX };
    this.crypto = { fernetKeys: e.FERNET_KEYS, signingKeys: e.SIGNING_KEYS };
    this.api = {
      host: e.API_HOST,
      port: e.API_PORT,
      publicUrl: e.API_PUBLIC_URL,
      corsOrigins: e.CORS_ORIGINS,
      bodyLimitBytes: e.BODY_LIMIT_BYTES,
      trustProxy: e.TRUST_PROXY,
      metricsToken: e.METRICS_TOKEN,
      devTenantHeader: e.DEV_TENANT_HEADER,
    };
    this.auth = {
      bcryptCost: e.BCRYPT_COST,
      sessionTtlSeconds: e.SESSION_TTL_SECONDS,
      invitationTtlHours: e.INVITATION_TTL_HOURS,
      apiKeyRateLimitPerMinute: e.API_KEY_RATE_LIMIT_PER_MINUTE,
      telegramBotToken: e.TELEGRAM_BOT_TOKEN,
      telegramLoginMaxAgeSeconds: e.TELEGRAM_LOGIN_MAX_AGE_SECONDS,
      staffEmails: e.STAFF_EMAILS.map((m) => m.toLowerCase()),
    };
    this.imports = { maxBytes: e.IMPORT_MAX_BYTES };
    this.worker = {
      concurrency: e.WORKER_CONCURRENCY,
      shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
      keepCompletedSeconds: e.JOB_KEEP_COMPLETED_SECONDS,
      keepFailedSeconds: e.JOB_KEEP_FAILED_SECONDS,
    };
  }

  /**
   * Validates an environment (by default `process.env`). Empty strings count as
   * unset, so `FOO=` in a .env file falls back to the default or fails as missing.
   */
  static load(env: NodeJS.ProcessEnv = process.env): AppConfig {
    const input = Object.fromEntries(
      Object.entries(env).filter(([, v]) => v !== undefined && v !== ''),
    );
    const result = configSchema.safeParse(input);
    if (!result.success) {
      throw new ConfigError(
        result.error.issues.map((issue) => ({
          variable: issue.path.map(String).join('.') || '(environment)',
          message:
            issue.code === 'invalid_type' && issue.input === undefined
              ? 'is required but not set'
              : issue.message,
        })),
      );
    }
    return new AppConfig(result.data);
  }
}

/**
 * For process entry points: the validated configuration, or a message on stderr
 * naming every bad variable and exit code 78 (EX_CONFIG).
 */
export function loadConfigOrExit(env: NodeJS.ProcessEnv = process.env): AppConfig {
  try {
    return AppConfig.load(env);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.message}\n`);
      process.exit(78);
    }
    throw e;
  }
}

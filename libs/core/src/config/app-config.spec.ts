import { describe, expect, it } from 'vitest';
import { AppConfig, ConfigError } from './app-config.js';
import { configVariableNames } from './config.schema.js';

const valid = {
  DATABASE_URL: 'postgres://ibhq_app:pw@127.0.0.1:5432/ibhq',
  REDIS_URL: 'redis://127.0.0.1:6379',
  FERNET_KEYS: `${'A'.repeat(43)}=`,
  SIGNING_KEYS: 's'.repeat(32),
};

function problems(env: Record<string, string>): { variable: string; message: string }[] {
  try {
    AppConfig.load(env);
  } catch (e) {
    if (e instanceof ConfigError) return [...e.problems];
    throw e;
  }
  return [];
}

describe('AppConfig', () => {
  it('loads a minimal valid environment with documented defaults', () => {
    const config = AppConfig.load(valid);
    expect(config.env).toBe('development');
    expect(config.api.port).toBe(3000);
    expect(config.api.devTenantHeader).toBe(false);
    expect(config.crypto.fernetKeys).toEqual([valid.FERNET_KEYS]);
    expect(config.worker.keepFailedSeconds).toBe(86_400);
  });

  it.each(['DATABASE_URL', 'REDIS_URL', 'FERNET_KEYS', 'SIGNING_KEYS'])(
    'names %s when it is missing or empty',
    (name) => {
      const without = Object.fromEntries(Object.entries(valid).filter(([k]) => k !== name));
      expect(problems(without)).toEqual([{ variable: name, message: 'is required but not set' }]);
      expect(problems({ ...valid, [name]: '' })).toEqual([
        { variable: name, message: 'is required but not set' },
      ]);
    },
  );

  it('names every invalid variable at once, without echoing secrets', () => {
    const found = problems({
      ...valid,
      DATABASE_URL: 'mysql://x',
      FERNET_KEYS: 'short',
      API_PORT: '70000',
      JOB_KEEP_FAILED_SECONDS: '90000',
      TRUST_PROXY: 'yes',
    });
    expect(found.map((p) => p.variable).sort()).toEqual(
      ['API_PORT', 'DATABASE_URL', 'FERNET_KEYS', 'JOB_KEEP_FAILED_SECONDS', 'TRUST_PROXY'].sort(),
    );
    expect(JSON.stringify(found)).not.toContain('short');
  });

  it('refuses the development tenant header in production', () => {
    expect(problems({ ...valid, NODE_ENV: 'production', DEV_TENANT_HEADER: 'true' })).toEqual([
      { variable: 'DEV_TENANT_HEADER', message: 'must not be enabled when NODE_ENV=production' },
    ]);
  });

  it('splits comma-separated lists and key rings', () => {
    const second = `${'B'.repeat(43)}=`;
    const config = AppConfig.load({
      ...valid,
      FERNET_KEYS: `${valid.FERNET_KEYS}, ${second}`,
      CORS_ORIGINS: 'https://a.test,https://b.test',
    });
    expect(config.crypto.fernetKeys).toEqual([valid.FERNET_KEYS, second]);
    expect(config.api.corsOrigins).toEqual(['https://a.test', 'https://b.test']);
  });

  it('declares each variable once', () => {
    expect(new Set(configVariableNames).size).toBe(configVariableNames.length);
  });
});

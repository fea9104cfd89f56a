import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { loggerOptions } from './logger-options.js';
import { REDACTED, redactDeep, scrubString } from './redact.js';

const SESSION = '1' + 'AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8w'.repeat(4);
const FERNET = 'gAAAAABnX2V4YW1wbGVfZmVybmV0X3Rva2VuX3ZhbHVlX2Zvcl90ZXN0cw==';

function capture(): { logger: pino.Logger; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _e, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { logger: pino(loggerOptions('test', 'trace'), stream), text: () => chunks.join('') };
}

describe('redaction', () => {
  it('masks secret and personal keys at any depth, keeping the rest', () => {
    const out = redactDeep({
      user: { id: 'u1', email: 'a@b.c', password: 'p', profile: { phone: '+100' } },
      job: { name: 'leads.import', payload: { apiHash: 'h', sessionString: 's', count: 3 } },
      headers: { Authorization: 'Bearer x', 'X-Api-Key': 'k' },
      list: [{ refresh_token: 't' }],
    });
    expect(out).toEqual({
      user: { id: 'u1', email: REDACTED, password: REDACTED, profile: { phone: REDACTED } },
      job: {
        name: 'leads.import',
        payload: { apiHash: REDACTED, sessionString: REDACTED, count: 3 },
      },
      headers: { Authorization: REDACTED, 'X-Api-Key': REDACTED },
      list: [{ refresh_token: REDACTED }],
    });
  });

  it('scrubs credentials out of free text whatever their key', () => {
    const text = scrubString(
      `auth Bearer abc.def.ghi to postgres://app:s3cret@db/x?token=t0k&password=pw with ${FERNET} and ${SESSION}`,
    );
    for (const secret of ['abc.def.ghi', 's3cret', 't0k', '=pw', FERNET, SESSION.slice(0, 40)]) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain('postgres://app:[REDACTED]@db/x');
  });

  it('cleans errors: message, stack, cause and details', () => {
    const error = new Error('login failed for password=hunter2', {
      cause: new Error(`session ${SESSION} revoked`),
    });
    const out = redactDeep(error) as Record<string, unknown>;
    expect(JSON.stringify(out)).not.toContain('hunter2');
    expect(JSON.stringify(out)).not.toContain(SESSION.slice(0, 40));
    expect(out.type).toBe('Error');
  });

  it('holds for what a pino logger with the shared options writes', () => {
    const { logger, text } = capture();
    logger.info(
      { body: { password: 'pw-1', nested: { token: 'tk-2' } } },
      `message with Bearer tk-3`,
    );
    logger.error({ err: new Error(`boom ${FERNET}`) }, 'failed');
    logger.warn(`session ${SESSION}`);
    const written = text();
    for (const secret of ['pw-1', 'tk-2', 'tk-3', FERNET, SESSION.slice(0, 40)]) {
      expect(written).not.toContain(secret);
    }
    expect(written).toContain('"msg":"failed"');
  });
});

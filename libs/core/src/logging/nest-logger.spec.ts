import { Writable } from 'node:stream';
import { Logger } from '@nestjs/common';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { asTenantId, runWithTenant } from '../context/tenant-context.js';
import { loggerOptions } from './logger-options.js';
import { NestPinoLogger } from './nest-logger.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _e, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { service: new NestPinoLogger(pino(loggerOptions('test', 'debug'), stream)), lines };
}

describe('NestPinoLogger', () => {
  it('writes Nest-style calls as JSON lines with their context', () => {
    const { service, lines } = capture();
    service.log('plain message', 'Ctx');
    service.warn({ jobId: 'j1', password: 'pw' }, 'with fields', 'Jobs');
    service.error(new Error('boom'), 'Errors');
    service.error('failed', 'Error: failed\n    at x (file.js:1:1)', 'Nest');
    service.verbose('too chatty', 'Ctx');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatchObject({ level: 'info', context: 'Ctx', msg: 'plain message' });
    expect(lines[1]).toMatchObject({
      level: 'warn',
      context: 'Jobs',
      jobId: 'j1',
      password: '[REDACTED]',
      msg: 'with fields',
    });
    expect(lines[2]).toMatchObject({
      level: 'error',
      context: 'Errors',
      msg: 'boom',
      err: { message: 'boom' },
    });
    expect(lines[3]).toMatchObject({ level: 'error', context: 'Nest' });
    expect(JSON.stringify(lines[3]?.err)).toContain('at x (file.js:1:1)');
  });

  it('adds the request id of the current context', () => {
    const { service, lines } = capture();
    const tenantId = asTenantId('01a20000-0000-7000-8000-000000000009');
    runWithTenant({ tenantId, actor: { type: 'system', id: 't' }, requestId: 'req-42' }, () => {
      service.log('inside', 'Ctx');
    });
    service.log('outside', 'Ctx');
    expect(lines[0]).toMatchObject({ requestId: 'req-42', msg: 'inside' });
    expect(lines[1]?.requestId).toBeUndefined();
  });

  it('serves as the logger of Nest Logger instances', () => {
    const { service, lines } = capture();
    Logger.overrideLogger(service);
    try {
      new Logger('Scoped').log({ count: 3 }, 'counted');
    } finally {
      Logger.overrideLogger(false);
    }
    expect(lines.at(-1)).toMatchObject({ context: 'Scoped', count: 3, msg: 'counted' });
  });
});

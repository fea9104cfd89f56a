import { Writable } from 'node:stream';
import type { INestApplicationContext } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApiApp } from '../../apps/api/src/bootstrap.js';
import { createWorker } from '../../apps/worker/src/bootstrap.js';
import { testConfig } from './db.js';

/** Collects the JSON log lines a process writes. */
export class LogCapture extends Writable {
  readonly lines: string[] = [];

  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    done();
  }

  get text(): string {
    return this.lines.join('\n');
  }

  records(): Record<string, unknown>[] {
    return this.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}

export interface RunningApi {
  readonly app: NestFastifyApplication;
  readonly url: string;
  readonly logs: LogCapture;
  /** fetch() against the API, JSON in and out. */
  request(
    method: string,
    path: string,
    options?: { tenant?: string; body?: unknown; headers?: Record<string, string> },
  ): Promise<{ status: number; headers: Headers; body: unknown; text: string }>;
  close(): Promise<void>;
}

/** Starts the real API (the same bootstrap as production) on a free port. */
export async function startApi(env: Record<string, string> = {}): Promise<RunningApi> {
  const logs = new LogCapture();
  const config = testConfig({ DEV_TENANT_HEADER: 'true', LOG_LEVEL: 'info', ...env });
  const app = await createApiApp(config, { logStream: logs });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = await app.getUrl();
  return {
    app,
    url,
    logs,
    async request(method, path, options = {}) {
      const headers: Record<string, string> = { ...options.headers };
      if (options.tenant) headers['x-tenant-id'] = options.tenant;
      let body: string | undefined;
      if (options.body !== undefined) {
        headers['content-type'] ??= 'application/json';
        body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
      }
      const response = await fetch(url + path, { method, headers, body });
      const text = await response.text();
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        // Not JSON (the docs page, metrics): callers read `text`.
      }
      return { status: response.status, headers: response.headers, body: parsed, text };
    },
    close: () => app.close(),
  };
}

/** Starts the real worker (job processors) in this process. */
export async function startWorker(
  env: Record<string, string> = {},
): Promise<{ app: INestApplicationContext; logs: LogCapture }> {
  const logs = new LogCapture();
  const app = await createWorker(testConfig({ LOG_LEVEL: 'info', ...env }), { logStream: logs });
  return { app, logs };
}

/** Polls `check` until it returns a value other than undefined (bounded). */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  timeoutMs = 10_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

import { type LoggerOptions, stdSerializers } from 'pino';
import { REDACTED, redactDeep, scrubString } from './redact.js';

interface RequestLike {
  id?: unknown;
  method?: string;
  url?: string;
  raw?: { url?: string };
  headers?: Record<string, unknown>;
  socket?: { remoteAddress?: string };
  remoteAddress?: string;
  /** Fastify's client address (honours TRUST_PROXY). */
  ip?: string;
}

/** What a request log line says of a request: never its headers or body. */
function serializeRequest(req: RequestLike): Record<string, unknown> {
  return {
    id: req.id,
    method: req.method,
    url: scrubString(req.url ?? req.raw?.url ?? ''),
    remoteAddress: req.ip ?? req.remoteAddress ?? req.socket?.remoteAddress,
    userAgent:
      typeof req.headers?.['user-agent'] === 'string'
        ? scrubString(req.headers['user-agent'])
        : undefined,
  };
}

function serializeResponse(res: { statusCode?: number }): Record<string, unknown> {
  return { statusCode: res.statusCode };
}

/** Serializers of requests (Fastify's or Node's), responses and errors. */
export const logSerializers = {
  req: serializeRequest,
  res: serializeResponse,
  err: (err: Error) => redactDeep(stdSerializers.err(err)),
};

/**
 * pino options shared by every process: JSON lines, ISO time, the service name, and
 * redaction of secrets and personal data by default (see redact.ts).
 */
export function loggerOptions(service: string, level: string): LoggerOptions {
  return {
    level,
    base: { service },
    timestamp: () => `,"time":"${new Date().toISOString()}"`,
    messageKey: 'msg',
    // Belt and braces: the serializers below never include headers anyway.
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers.cookie',
        'req.headers["x-api-key"]',
        'res.headers["set-cookie"]',
      ],
      censor: REDACTED,
    },
    serializers: logSerializers,
    formatters: {
      level: (label) => ({ level: label }),
      log: (obj) => redactDeep(obj) as Record<string, unknown>,
    },
    hooks: {
      logMethod(args, method) {
        const scrubbed = args.map((a) => (typeof a === 'string' ? scrubString(a) : a));
        method.apply(this, scrubbed as Parameters<typeof method>);
      },
    },
  };
}

import type { LoggerService } from '@nestjs/common';
import type { Logger as Pino } from 'pino';
import { currentTenantOrUndefined } from '../context/tenant-context.js';

type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

/**
 * Nest's LoggerService on top of the process's pino logger: Nest's own messages and
 * every `new Logger(Context)` of the code become JSON lines with `context`, and the
 * request id of the current tenant context when there is one. Objects passed first
 * (`logger.log({ jobId }, 'job done')`) are merged into the line, as pino does.
 *
 * (nestjs-pino does this and more, through pino-http as a Nest middleware; under
 * Nest 12's Fastify adapter that middleware layer cost a quarter of the API's
 * throughput in bench/ and its default route pattern matched nothing. Request lines
 * are written by a Fastify hook instead: apps/api/src/http/request-log.ts.)
 */
export class NestPinoLogger implements LoggerService {
  constructor(private readonly pino: Pino) {}

  log(message: unknown, ...params: unknown[]): void {
    this.write('info', message, params);
  }

  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params);
  }

  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }

  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }

  verbose(message: unknown, ...params: unknown[]): void {
    this.write('trace', message, params);
  }

  fatal(message: unknown, ...params: unknown[]): void {
    this.write('fatal', message, params);
  }

  private write(level: Level, message: unknown, params: unknown[]): void {
    if (!this.pino.isLevelEnabled(level)) return;
    // Nest appends the logger's context as the last parameter.
    const last = params.at(-1);
    const context = params.length > 0 && typeof last === 'string' ? last : undefined;
    const rest = context === undefined ? params : params.slice(0, -1);
    const fields: Record<string, unknown> = {};
    if (context !== undefined) fields.context = context;
    const requestId = currentTenantOrUndefined()?.requestId;
    if (requestId !== undefined) fields.requestId = requestId;
    const text = rest.find((p): p is string => typeof p === 'string');
    if (message instanceof Error) {
      this.pino[level]({ ...fields, err: message }, text ?? message.message);
    } else if (typeof message === 'object' && message !== null) {
      this.pino[level]({ ...fields, ...(message as Record<string, unknown>) }, text);
    } else if (level === 'error' && text !== undefined && text.includes('\n    at ')) {
      // Nest's own error calls: (message, stack, context).
      this.pino.error(
        { ...fields, err: { message: String(message), stack: text } },
        String(message),
      );
    } else {
      this.pino[level](fields, String(message));
    }
  }
}

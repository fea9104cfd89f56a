import { randomUUID } from 'node:crypto';
import {
  type ArgumentsHost,
  Catch,
  type ExceptionFilter,
  HttpException,
  Inject,
} from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger as Pino } from 'pino';
import { DomainError, ErrorCode, PINO_LOGGER } from '@ibhq/core';

/** The one mapping of the product's error codes to HTTP statuses. */
export function httpStatusOf(code: ErrorCode): number {
  switch (code) {
    case ErrorCode.ValidationFailed:
      return 400;
    case ErrorCode.Unauthenticated:
    case ErrorCode.MfaRequired:
      return 401;
    case ErrorCode.Forbidden:
    case ErrorCode.TenantSuspended:
    case ErrorCode.MfaEnrolmentRequired:
      return 403;
    case ErrorCode.NotFound:
      return 404;
    case ErrorCode.Conflict:
      return 409;
    case ErrorCode.Gone:
      return 410;
    case ErrorCode.PayloadTooLarge:
      return 413;
    case ErrorCode.UnsupportedMediaType:
      return 415;
    case ErrorCode.RateLimited:
      return 429;
    case ErrorCode.TenantContextMissing:
      return 500;
    case ErrorCode.DependencyUnavailable:
      return 503;
  }
}

export interface ErrorBody {
  readonly error: {
    readonly code: ErrorCode | 'INTERNAL' | 'HTTP_ERROR';
    readonly message: string;
    readonly fields?: readonly { field: string; message: string }[];
    readonly details?: Record<string, unknown>;
    readonly requestId: string;
    readonly errorId?: string;
  };
}

/** Fastify's own errors (raised before a handler runs) that are the caller's fault. */
function frameworkError(e: unknown): { status: number; code: ErrorCode; message: string } | null {
  if (typeof e !== 'object' || e === null) return null;
  const { code, statusCode, message } = e as {
    code?: unknown;
    statusCode?: unknown;
    message?: unknown;
  };
  if (
    typeof code !== 'string' ||
    !code.startsWith('FST_ERR_CTP_') ||
    typeof statusCode !== 'number'
  ) {
    return null;
  }
  switch (statusCode) {
    case 413:
      return {
        status: 413,
        code: ErrorCode.PayloadTooLarge,
        message: 'body: the request body is too large',
      };
    case 415:
      return {
        status: 415,
        code: ErrorCode.UnsupportedMediaType,
        message: 'body: send application/json',
      };
    default:
      return {
        status: 400,
        code: ErrorCode.ValidationFailed,
        message: `body: ${typeof message === 'string' ? message : 'unreadable body'}`,
      };
  }
}

/** Seconds a rate-limited caller should wait (the limiter says; 60 otherwise). */
function retryAfterOf(e: unknown): number {
  const seconds = e instanceof DomainError ? e.details?.retryAfterSeconds : undefined;
  return typeof seconds === 'number' && Number.isFinite(seconds) && seconds > 0
    ? Math.ceil(seconds)
    : 60;
}

/** The code of a Nest HTTP exception (thrown by the framework, not by our code). */
function codeOfStatus(status: number): ErrorCode | 'HTTP_ERROR' {
  switch (status) {
    case 400:
      return ErrorCode.ValidationFailed;
    case 401:
      return ErrorCode.Unauthenticated;
    case 403:
      return ErrorCode.Forbidden;
    case 404:
      return ErrorCode.NotFound;
    case 413:
      return ErrorCode.PayloadTooLarge;
    case 415:
      return ErrorCode.UnsupportedMediaType;
    case 429:
      return ErrorCode.RateLimited;
    default:
      return 'HTTP_ERROR';
  }
}

/**
 * Every error leaves the API here. Domain errors keep their code and message;
 * Nest's HTTP exceptions (unknown routes...) and Fastify's parser errors are mapped;
 * anything else is a 500 that carries only an error id, which the log explains.
 */
@Catch()
export class ErrorFilter implements ExceptionFilter {
  // This application's own pino logger (Nest's static Logger is process-wide), so
  // that an error id always lands in the log of the app that answered.
  constructor(@Inject(PINO_LOGGER) private readonly logger: Pino) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const requestId = request.id;
    const { status, body } = this.toResponse(exception, requestId, request);
    if (status === 503) void reply.header('retry-after', '5');
    if (status === 429) void reply.header('retry-after', String(retryAfterOf(exception)));
    void reply.status(status).type('application/json; charset=utf-8').send(body);
  }

  private toResponse(
    e: unknown,
    requestId: string,
    request: FastifyRequest,
  ): { status: number; body: ErrorBody } {
    if (e instanceof DomainError) {
      const status = httpStatusOf(e.code);
      if (status === 500) return this.internal(e, requestId);
      if (status >= 500) {
        this.logger.warn({ err: e, requestId }, 'dependency unavailable');
      }
      const { fields, ...details } = e.details ?? {};
      return {
        status,
        body: {
          error: {
            code: e.code,
            message: e.message,
            ...(fields ? { fields } : {}),
            ...(Object.keys(details).length > 0 ? { details } : {}),
            requestId,
          },
        },
      };
    }
    const framework = frameworkError(e);
    if (framework) {
      return {
        status: framework.status,
        body: { error: { code: framework.code, message: framework.message, requestId } },
      };
    }
    if (e instanceof HttpException && e.getStatus() < 500) {
      const status = e.getStatus();
      // Nest reports a body Fastify could not parse as a plain 400.
      const message =
        status === 404
          ? `no route ${request.method} ${request.url.split('?')[0] ?? ''}`
          : status === 415
            ? 'body: send application/json'
            : status === 400 && /JSON/i.test(e.message)
              ? `body: ${e.message}`
              : e.message;
      return { status, body: { error: { code: codeOfStatus(status), message, requestId } } };
    }
    if (e instanceof HttpException && e.getStatus() === 503) {
      // Health checks answer 503 with their own description of what is down.
      return { status: 503, body: e.getResponse() as ErrorBody };
    }
    return this.internal(e, requestId);
  }

  /** A 500 says nothing of its cause: only an id to find it in the log. */
  private internal(e: unknown, requestId: string): { status: number; body: ErrorBody } {
    const errorId = randomUUID();
    this.logger.error({ err: e, errorId, requestId }, 'request failed');
    return {
      status: 500,
      body: {
        error: { code: 'INTERNAL', message: `Internal error (id ${errorId})`, requestId, errorId },
      },
    };
  }
}

import { isUtf8 } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import cookie from '@fastify/cookie';
import cors from '@fastify/cors';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { DestinationStream, Logger as Pino } from 'pino';
import { type AppConfig, NestPinoLogger, PINO_LOGGER } from '@ibhq/core';
import { AppModule } from './app.module.js';
import { logRequests } from './http/request-log.js';
import { IMPORT_UPLOAD_PATH } from './leads/imports.controller.js';
import { securityHeaders } from './http/security-headers.js';
import { Metrics } from './metrics/metrics.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/**
 * Request ids: a well-formed incoming X-Request-Id is kept (so a proxy's id follows
 * the request), anything else is replaced; the id is echoed in the response, in error
 * bodies and in the request's log line.
 */
function requestId(raw: IncomingMessage): string {
  const incoming = raw.headers['x-request-id'];
  return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

/** Builds the API application (not listening): used by main.ts, the tests and the bench. */
export async function createApiApp(
  config: AppConfig,
  options: { logStream?: DestinationStream } = {},
): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    bodyLimit: config.api.bodyLimitBytes,
    trustProxy: config.api.trustProxy,
    genReqId: requestId,
    requestIdHeader: false,
    return503OnClosing: true,
  });
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRoot(config, options.logStream),
    adapter,
    // bodyParser off: Nest would add an urlencoded (form) parser; Fastify's own JSON
    // parser is the only one wanted (a form post is a CSRF vector; anything else is 415).
    { bufferLogs: true, abortOnError: false, bodyParser: false },
  );
  const logger = app.get<Pino>(PINO_LOGGER);
  app.useLogger(new NestPinoLogger(logger));
  app.enableShutdownHooks();

  const fastify = app.getHttpAdapter().getInstance();
  logRequests(fastify, logger);
  // JSON only: any other body type answers 415 instead of reaching validation.
  fastify.removeContentTypeParser(['text/plain']);
  // JSON that is valid UTF-8 only: decoding would silently turn bad bytes into U+FFFD,
  // and a name or a note would be stored other than sent. Fastify's own parser (with
  // its prototype-poisoning checks) does the rest.
  const parseJson = fastify.getDefaultJsonParser('error', 'error');
  fastify.removeContentTypeParser(['application/json']);
  fastify.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const bytes = typeof body === 'string' ? Buffer.from(body) : body; // parseAs: buffer
    if (!isUtf8(bytes)) {
      done(
        Object.assign(new Error('the body is not valid UTF-8'), {
          code: 'FST_ERR_CTP_INVALID_UTF8',
          statusCode: 400,
        }),
        undefined,
      );
      return;
    }
    void parseJson(request, bytes.toString('utf8'), done);
  });
  // Except the CSV import's upload: its handler reads the raw text/csv body as a stream
  // as it arrives (never whole in memory, limited by IMPORT_MAX_BYTES, not
  // BODY_LIMIT_BYTES). On any other route text/csv is as unsupported as the rest.
  fastify.addContentTypeParser('text/csv', (request, payload, done) => {
    if (request.method === 'POST' && request.routeOptions.url === IMPORT_UPLOAD_PATH) {
      done(null, payload);
    } else {
      done(
        Object.assign(new Error('Unsupported Media Type: text/csv'), {
          code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE',
          statusCode: 415,
        }),
        undefined,
      );
    }
  });
  // A route may take larger bodies than BODY_LIMIT_BYTES through @RouteConfig({ bodyLimit })
  // (bulk work by 100,000 ids); never smaller. Routes are registered at init, after this.
  fastify.addHook('onRoute', (route) => {
    const { bodyLimit: limit }: { bodyLimit?: unknown } = route.config ?? {};
    if (typeof limit === 'number') route.bodyLimit = Math.max(limit, config.api.bodyLimitBytes);
  });
  const headers = securityHeaders();
  fastify.addHook('onRequest', (request, reply, done) => {
    void reply.headers(headers).header('x-request-id', request.id);
    done();
  });
  app.get(Metrics).instrument(fastify);

  // Reads the session cookie (AuthGuard); nothing is signed with it: the value is an
  // opaque token whose hash Redis knows.
  await app.register(cookie);
  await app.register(cors, {
    origin: config.api.corsOrigins.length > 0 ? [...config.api.corsOrigins] : false,
    credentials: true,
    exposedHeaders: [
      'x-request-id',
      'retry-after',
      'ratelimit-limit',
      'ratelimit-remaining',
      'ratelimit-reset',
    ],
  });

  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('IBHQ API')
      .setDescription('Lead CRM for introducing brokers: multi-tenant REST API.')
      .setVersion('0.1.0')
      .build(),
  );
  SwaggerModule.setup('docs', app, document, {
    jsonDocumentUrl: 'openapi.json',
    raw: ['json'],
  });
  return app;
}

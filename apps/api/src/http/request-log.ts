import type { FastifyInstance } from 'fastify';
import type { Logger as Pino } from 'pino';

/** Probes and scrapes: logged only when they fail. */
const QUIET_ROUTES = new Set(['/health/live', '/health/ready', '/metrics']);

/**
 * One JSON line per request when its response is sent: request id, method, URL
 * (query secrets scrubbed), client address, user agent, status and time. Headers
 * and bodies are never logged. 5xx lines are errors, 4xx warnings.
 */
export function logRequests(fastify: FastifyInstance, logger: Pino): void {
  fastify.addHook('onResponse', (request, reply, done) => {
    const status = reply.statusCode;
    if (status < 400 && QUIET_ROUTES.has(request.routeOptions.url ?? '')) {
      done();
      return;
    }
    const level = status >= 500 ? 'error' : status >= 400 ? 'warn' : 'info';
    logger[level](
      { req: request, res: reply, responseTime: Math.round(reply.elapsedTime) },
      'request completed',
    );
    done();
  });
}

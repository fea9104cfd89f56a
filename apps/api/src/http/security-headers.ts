import type { IncomingMessage, ServerResponse } from 'node:http';
import helmet from 'helmet';

/**
 * Helmet's security headers, computed once. They never vary by request, and
 * @fastify/helmet runs Helmet on every request (re-parsing the CSP each time: a
 * measurable share of a small read in bench/). Helmet still decides every value;
 * this only replays its output.
 */
export function securityHeaders(): Record<string, string> {
  const headers: Record<string, string> = {};
  const capture = {
    setHeader(name: string, value: string | number | readonly string[]) {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    },
    removeHeader(name: string) {
      Reflect.deleteProperty(headers, name.toLowerCase());
    },
  };
  helmet({
    hsts: { maxAge: 31_536_000, includeSubDomains: true, preload: true },
    // The API serves JSON; only the /docs page needs more than nothing.
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'none'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        frameAncestors: ["'none'"],
      },
    },
  })({} as IncomingMessage, capture as unknown as ServerResponse, () => undefined);
  return headers;
}

// The HTTP shell shared by the foundation scenario's reference servers (bare-server.mjs,
// bare-prisma-server.mjs): plain Fastify 5, no logging, one route answering the same
// JSON body as the API (id, displayName, createdAt, updatedAt), 404 when the row is
// not visible, 400/401 for a malformed id or tenant header (so that no malformed value
// ever reaches PostgreSQL). Each server brings only its way of reading the row.
//
// Environment: BENCH_HOST, BENCH_PORT (default 127.0.0.1:3900). The server exits when
// its standard input closes (its parent is gone) or on SIGTERM/SIGINT.
import Fastify from 'fastify';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * @param {object} server
 * @param {string} server.name  printed when listening
 * @param {(tenantId: string, id: string) => Promise<{ id: string, displayName: string, createdAt: Date, updatedAt: Date } | null | undefined>} server.readLead
 * @param {() => Promise<void>} server.close  releases the database client
 */
export async function serveLeads({ name, readLead, close }) {
  const host = process.env.BENCH_HOST ?? '127.0.0.1';
  const port = Number(process.env.BENCH_PORT ?? 3900);
  const app = Fastify({ logger: false });

  app.get('/v1/leads/:id', async (request, reply) => {
    const tenantId = request.headers['x-tenant-id'];
    if (typeof tenantId !== 'string' || !UUID.test(tenantId)) {
      return reply.code(401).send({ error: { code: 'UNAUTHENTICATED' } });
    }
    const { id } = request.params;
    if (!UUID.test(id)) return reply.code(400).send({ error: { code: 'VALIDATION_FAILED' } });
    const lead = await readLead(tenantId.toLowerCase(), id);
    if (!lead) return reply.code(404).send({ error: { code: 'NOT_FOUND' } });
    return {
      id: lead.id,
      displayName: lead.displayName,
      createdAt: lead.createdAt,
      updatedAt: lead.updatedAt,
    };
  });

  let closing = false;
  const stop = async () => {
    if (closing) return;
    closing = true;
    await app.close();
    await close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  process.stdin.on('end', () => void stop());
  process.stdin.resume();

  await app.listen({ host, port });
  process.stdout.write(`${name} listening on http://${host}:${port}\n`);
}

import type { FastifyReply } from 'fastify';

/**
 * Marks a reply as a file download: its type, an attachment file name (made of ids,
 * dates and fixed words only, so no quoting is needed) and no caching.
 */
export function asDownload(reply: FastifyReply, contentType: string, fileName: string): void {
  void reply
    .header('content-type', contentType)
    .header('content-disposition', `attachment; filename="${fileName}"`)
    .header('cache-control', 'no-store');
}

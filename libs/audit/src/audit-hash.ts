import { createHash } from 'node:crypto';
import canonicalizeModule from 'canonicalize';

type Canonicalize = (input: unknown) => string | undefined;
// The package is CommonJS with an ES-style declaration: under `nodenext` TypeScript
// types its default import as the module object, while Node hands over the function
// itself. Accept either, so that a change of the package's format cannot break this.
const loaded = canonicalizeModule as unknown as Canonicalize | { default: Canonicalize };
const canonicalize: Canonicalize = typeof loaded === 'function' ? loaded : loaded.default;

/** `prevHash` of the first event of every chain, and the hash of an empty chain's head. */
export const GENESIS_HASH = '0'.repeat(64);

/** The fields of one event that its hash covers: everything stored but the hashes. */
export interface ChainedFields {
  readonly tenantId: string;
  readonly seq: number;
  readonly occurredAt: Date;
  readonly actorType: string;
  readonly actorId: string | null;
  readonly action: string;
  readonly targetType: string | null;
  readonly targetId: string | null;
  readonly metadata: Record<string, unknown>;
  readonly ip: string | null;
  readonly userAgent: string | null;
}

/**
 * The link of the hash chain: sha256(prevHash + "\n" + JCS(fields)), hex. `record`
 * and `verify` both call this one function, so the writer and the checker can never
 * disagree about what is hashed.
 *
 * The fields are serialised with RFC 8785 (JSON Canonicalization Scheme: sorted keys,
 * ECMAScript number form, no whitespace) by the `canonicalize` package, so the hash
 * depends only on the values, not on the key order PostgreSQL's jsonb hands back.
 * `seq` is a string (it is a bigint in the database), `occurredAt` an ISO-8601 UTC
 * string with milliseconds (the column's precision); absent values are `null`.
 */
export function chainHash(prevHash: string, fields: ChainedFields): string {
  const canonical = canonicalize({
    tenantId: fields.tenantId,
    seq: String(fields.seq),
    occurredAt: fields.occurredAt.toISOString(),
    actorType: fields.actorType,
    actorId: fields.actorId,
    action: fields.action,
    targetType: fields.targetType,
    targetId: fields.targetId,
    metadata: fields.metadata,
    ip: fields.ip,
    userAgent: fields.userAgent,
  });
  // canonicalize returns undefined only for undefined input; an object is never that.
  if (canonical === undefined) throw new Error('audit: event fields did not serialise');
  return createHash('sha256').update(`${prevHash}\n${canonical}`, 'utf8').digest('hex');
}

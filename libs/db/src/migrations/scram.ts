import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * A PostgreSQL SCRAM-SHA-256 password verifier (RFC 5802/7677, the format of
 * `pg_authid.rolpassword`). `ALTER ROLE ... PASSWORD '<verifier>'` then never sends
 * the clear password to the server, so it cannot appear in the server's statement
 * log. (libpq's PQencryptPasswordConn does this; node-postgres has no equivalent.)
 * Passwords are used as UTF-8 without SASLprep, which is what PostgreSQL does for
 * any password that SASLprep would leave unchanged (all printable ASCII).
 */
export function scramSha256Verifier(
  password: string,
  salt: Buffer = randomBytes(16),
  iterations = 4096,
): string {
  const salted = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/** The `PASSWORD ...` operand of CREATE/ALTER ROLE: NULL (no password) or a verifier. */
export function passwordSql(password: string): string {
  return password === '' ? 'NULL' : pg.escapeLiteral(scramSha256Verifier(password));
}

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { Fernet, InvalidFernetTokenError, generateFernetKey } from './fernet.js';
import { FernetKeyRing } from './fernet-key-ring.js';

/**
 * Python `cryptography` as the reference implementation. Keys, tokens and data go
 * through stdin as JSON (never argv); bytes travel as standard base64.
 */
const PYTHON = `
import base64, json, sys
from cryptography.fernet import Fernet, InvalidToken

req = json.load(sys.stdin)
f = Fernet(req["key"].encode())
if req["op"] == "encrypt":
    data = base64.b64decode(req["data"])
    token = f.encrypt_at_time(data, req["now"]) if "now" in req else f.encrypt(data)
    out = {"token": token.decode()}
else:
    try:
        data = f.decrypt(req["token"].encode())
        out = {"data": base64.b64encode(data).decode(),
               "timestamp": f.extract_timestamp(req["token"].encode())}
    except InvalidToken:
        out = {"invalid": True}
json.dump(out, sys.stdout)
`;

interface PythonResult {
  token?: string;
  data?: string;
  timestamp?: number;
  invalid?: boolean;
}

function python(request: Record<string, unknown>): PythonResult {
  const run = spawnSync('python3', ['-c', PYTHON], {
    input: JSON.stringify(request),
    encoding: 'utf8',
    timeout: 20_000,
  });
  if (run.error) throw run.error;
  if (run.status !== 0) throw new Error(`python3 failed (${run.status}): ${run.stderr}`);
  return JSON.parse(run.stdout) as PythonResult;
}

function pythonDecrypt(key: string, token: string): PythonResult {
  return python({ op: 'decrypt', key, token });
}

describe('Fernet interoperability with Python cryptography', () => {
  beforeAll(() => {
    const check = spawnSync(
      'python3',
      ['-c', 'import cryptography; print(cryptography.__version__)'],
      {
        encoding: 'utf8',
        timeout: 20_000,
      },
    );
    if (check.error || check.status !== 0) {
      throw new Error(
        'These tests need python3 with the `cryptography` package (pip install cryptography); ' +
          `it could not be imported: ${check.error?.message ?? check.stderr}`,
      );
    }
  });

  it('Node encrypts, Python decrypts to the same bytes and timestamp', () => {
    const key = generateFernetKey();
    const fernet = new Fernet(key);
    for (const data of [
      Buffer.alloc(0),
      Buffer.from('Grüße 🚀', 'utf8'),
      randomBytes(16),
      randomBytes(1000),
    ]) {
      const token = fernet.encrypt(data, { now: 1_700_000_000_000 });
      const result = pythonDecrypt(key, token);
      expect(result.invalid).toBeUndefined();
      expect(result.data).toBe(data.toString('base64'));
      expect(result.timestamp).toBe(1_700_000_000);
    }
  });

  it('Python rejects a Node token under another key', () => {
    const token = new Fernet(generateFernetKey()).encrypt('x');
    expect(pythonDecrypt(generateFernetKey(), token)).toEqual({ invalid: true });
  });

  it('Python encrypts, Node decrypts', () => {
    const key = generateFernetKey();
    const data = Buffer.concat([Buffer.from('from python ✓', 'utf8'), randomBytes(100)]);
    const { token } = python({ op: 'encrypt', key, data: data.toString('base64') });
    expect(token).toBeDefined();
    expect(new Fernet(key).decrypt(token!).equals(data)).toBe(true);
    expect(new FernetKeyRing([generateFernetKey(), key]).decrypt(token!).equals(data)).toBe(true);
    expect(() => new Fernet(generateFernetKey()).decrypt(token!)).toThrow(InvalidFernetTokenError);
  });

  it('Node honours the timestamp Python wrote', () => {
    const key = generateFernetKey();
    const { token } = python({ op: 'encrypt', key, data: '', now: 1_500_000_000 });
    const fernet = new Fernet(key);
    expect(fernet.decryptString(token!, { ttlSeconds: 100, now: 1_500_000_100_000 })).toBe('');
    expect(() => fernet.decrypt(token!, { ttlSeconds: 100, now: 1_500_000_101_000 })).toThrow(
      InvalidFernetTokenError,
    );
  });

  it('a token rotated by the ring decrypts in Python with only the new key', () => {
    const oldKey = generateFernetKey();
    const newKey = generateFernetKey();
    const { token: old } = python({
      op: 'encrypt',
      key: oldKey,
      data: Buffer.from('rotate me').toString('base64'),
      now: 1_600_000_000,
    });
    const rotated = new FernetKeyRing([newKey, oldKey]).rotate(old!);
    expect(pythonDecrypt(oldKey, rotated)).toEqual({ invalid: true });
    const result = pythonDecrypt(newKey, rotated);
    expect(Buffer.from(result.data ?? '', 'base64').toString()).toBe('rotate me');
    expect(result.timestamp).toBe(1_600_000_000);
  });
});

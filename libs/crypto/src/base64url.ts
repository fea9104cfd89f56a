const ALPHABET = /^[A-Za-z0-9_-]*$/;

/**
 * Strict URL-safe base64 decoding. `Buffer.from(s, 'base64url')` silently skips
 * characters outside the alphabet and ignores stray bits, so two different strings
 * can decode to the same bytes; this rejects anything but the one canonical
 * encoding of the bytes (alphabet `A-Z a-z 0-9 - _`, zero trailing bits, and `=`
 * padding exactly when `padded`). Returns `undefined` when the text is not that.
 */
export function decodeBase64UrlStrict(text: string, padded: boolean): Buffer | undefined {
  let body = text;
  if (padded) {
    if (text.length % 4 !== 0) return undefined;
    body = text.endsWith('==') ? text.slice(0, -2) : text.endsWith('=') ? text.slice(0, -1) : text;
  }
  if (!ALPHABET.test(body) || body.length % 4 === 1) return undefined;
  const bytes = Buffer.from(body, 'base64url');
  // Re-encoding catches non-zero trailing bits (e.g. "AB" and "AA" both decode to 0x00).
  return bytes.toString('base64url') === body ? bytes : undefined;
}

/** URL-safe base64 with `=` padding (the form Fernet keys and tokens use). */
export function encodeBase64UrlPadded(bytes: Uint8Array): string {
  const body = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
  return body + '='.repeat((4 - (body.length % 4)) % 4);
}

/**
 * MD5 password authentication (AuthenticationMD5Password). Deprecated by Postgres in favour of
 * SCRAM, but still what many existing roles store.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

const MD5_PREFIX = 'md5';
const MD5_HASH = /^md5[0-9a-f]{32}$/;

function md5Hex(...parts: (string | Buffer)[]): string {
  const hash = createHash('md5');
  for (const part of parts) hash.update(part);
  return hash.digest('hex');
}

/** What pg_authid.rolpassword stores for an md5 role: 'md5' + hex(md5(password + user)). */
export function md5PasswordHash(user: string, password: string): string {
  return MD5_PREFIX + md5Hex(password, user);
}

/** True for a stored hash in the 'md5' + 32 hex digits format. */
export function isMd5PasswordHash(stored: string): boolean {
  return MD5_HASH.test(stored);
}

/**
 * What the client answers to an MD5 challenge:
 * 'md5' + hex(md5(hex-part-of-stored-hash + salt)).
 */
export function md5Challenge(storedHash: string, salt: Buffer): string {
  return MD5_PREFIX + md5Hex(storedHash.slice(MD5_PREFIX.length), salt);
}

/** Checks a client's md5 response in constant time; false for a malformed stored hash. */
export function verifyMd5Response(storedHash: string, salt: Buffer, response: string): boolean {
  if (!isMd5PasswordHash(storedHash)) return false;
  const expected = Buffer.from(md5Challenge(storedHash, salt), 'utf8');
  const actual = Buffer.from(response, 'utf8');
  if (actual.length !== expected.length) return false;
  return timingSafeEqual(expected, actual);
}

import { describe, expect, test } from 'vitest';
import { defaultConfig } from '../../src/config.js';
import { ApiError } from '../../src/http-api/api-error.js';
import { Authenticator, hashApiKey } from '../../src/http-api/auth.js';

const KEY = 'dfk_unit-test-key-0123456789';

function authenticator(keys: readonly string[]): Authenticator {
  const base = defaultConfig().api;
  return new Authenticator({
    ...base,
    keys: keys.map((key, i) => ({
      name: `k${String(i)}`,
      hash: hashApiKey(key),
      role: 'write',
      collections: null,
      rateLimit: null,
    })),
  });
}

describe('Authenticator', () => {
  test('a key seen before is answered from memory, the same principal every time', async () => {
    const auth = authenticator([KEY]);
    const first = await auth.authenticate({ authorization: `Bearer ${KEY}` });
    const again = await auth.authenticate({ 'x-api-key': KEY });
    expect(first).toMatchObject({ name: 'k0', role: 'write' });
    expect(again).toBe(first);
  });

  test('remembering good keys never lets a bad one through', async () => {
    const auth = authenticator([KEY]);
    await auth.authenticate({ authorization: `Bearer ${KEY}` });
    for (const bad of [`${KEY}x`, KEY.slice(0, -1), KEY.toUpperCase()]) {
      await expect(auth.authenticate({ authorization: `Bearer ${bad}` })).rejects.toBeInstanceOf(
        ApiError,
      );
    }
    // A new configuration (a new Authenticator) without the key refuses it.
    await expect(
      authenticator(['another-key']).authenticate({ authorization: `Bearer ${KEY}` }),
    ).rejects.toMatchObject({ statusCode: 401 });
  });

  test('memory is bounded: many distinct keys still authenticate', async () => {
    const keys = Array.from({ length: 10_050 }, (_, i) => `key-${String(i)}`);
    const auth = authenticator(keys);
    for (const key of keys) await auth.authenticate({ 'x-api-key': key });
    expect(await auth.authenticate({ 'x-api-key': 'key-3' })).toMatchObject({ name: 'k3' });
  });
});

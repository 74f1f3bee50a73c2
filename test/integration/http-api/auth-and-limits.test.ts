/**
 * Auth (API keys by Bearer or X-API-Key, JWT HS256 and RS256 from a JWKS file, roles, allowed
 * collections, the anonymous role), rate limits (429 with Retry-After), body limits, protected
 * metrics, error bodies without stack traces, and the OpenAPI document itself.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DocFusionClient, DocFusionError, OPERATIONS } from '../../../sdk/client.js';
import { startApiProxy, uniqueName, type ApiProxy } from './api-support.js';

const SECRET = 'a-test-secret-of-enough-length-for-hs256';
let api: ApiProxy;
let rsa: Awaited<ReturnType<typeof generateKeyPair>>;
let allowed: string;
let other: string;

beforeAll(async () => {
  rsa = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(rsa.publicKey)), kid: 'test-key', alg: 'RS256', use: 'sig' };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'docfusion-jwks-'));
  const jwksFile = path.join(dir, 'jwks.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: [jwk] }));
  allowed = uniqueName('allowed');
  other = uniqueName('other');
  api = await startApiProxy({
    api: {
      bodyLimit: 64 * 1024,
      protectMetrics: true,
      jwt: {
        hs256Secret: SECRET,
        jwksFile,
        issuer: 'https://issuer.test',
        audience: 'docfusion',
        roleClaim: 'role',
        collectionsClaim: 'collections',
      },
    },
    extraKeys: [
      { name: 'limited', role: 'write', collections: [allowed], rateLimit: null },
      { name: 'slow', role: 'read', collections: null, rateLimit: 3 },
    ],
  });
  const admin = api.client('admin');
  await admin.createCollection(allowed);
  await admin.createCollection(other);
});

afterAll(async () => {
  await api.stop();
  expect(api.openapi.failures).toEqual([]);
});

async function statusOf(promise: Promise<unknown>): Promise<number> {
  try {
    await promise;
    return 200;
  } catch (error) {
    if (error instanceof DocFusionError) return error.status;
    throw error;
  }
}

function hs256(claims: Record<string, unknown>, expires = '5m'): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer('https://issuer.test')
    .setAudience('docfusion')
    .setSubject('alice')
    .setExpirationTime(expires)
    .sign(new TextEncoder().encode(SECRET));
}

describe('API keys', () => {
  test('no credentials, a wrong key or a malformed header are 401', async () => {
    expect(await statusOf(api.client().listCollections())).toBe(401);
    expect(await statusOf(api.client('dfk_wrong').listCollections())).toBe(401);
    const response = await fetch(`${api.baseUrl}/v1/collections`, {
      headers: { authorization: 'Basic abc' },
    });
    expect(response.status).toBe(401);
  });

  test('X-API-Key works like Bearer', async () => {
    const response = await fetch(`${api.baseUrl}/v1/collections`, {
      headers: { 'x-api-key': api.keys.reader ?? '' },
    });
    expect(response.status).toBe(200);
  });

  test('a key limited to some collections sees and touches only those, and runs no SQL', async () => {
    const limited = api.client('limited');
    await limited.insert(allowed, { ok: true });
    expect(await statusOf(limited.insert(other, { ok: false }))).toBe(403);
    expect(await statusOf(limited.list(other))).toBe(403);
    const names = (await limited.listCollections()).collections.map((c) => c.name);
    expect(names).toEqual([allowed]);
    expect(await statusOf(limited.query('SELECT 1'))).toBe(403);
  });
});

describe('JWT', () => {
  test('HS256 with a role claim maps to that role', async () => {
    const reader = new DocFusionClient({
      baseUrl: api.baseUrl,
      token: await hs256({ role: 'read' }),
      fetch: api.openapi.fetch,
    });
    expect((await reader.listCollections()).collections.length).toBeGreaterThan(0);
    expect(await statusOf(reader.insert(allowed, { a: 1 }))).toBe(403);
    const writer = new DocFusionClient({
      baseUrl: api.baseUrl,
      token: await hs256({ role: 'write', collections: [allowed] }),
    });
    await writer.insert(allowed, { a: 1 });
    expect(await statusOf(writer.insert(other, { a: 1 }))).toBe(403);
  });

  test('RS256 signed by a key of the JWKS file', async () => {
    const token = await new SignJWT({ role: 'admin' })
      .setProtectedHeader({ alg: 'RS256', kid: 'test-key' })
      .setIssuer('https://issuer.test')
      .setAudience('docfusion')
      .setExpirationTime('5m')
      .sign(rsa.privateKey);
    const admin = new DocFusionClient({ baseUrl: api.baseUrl, token });
    const name = uniqueName('jwt');
    expect(await admin.createCollection(name)).toEqual({ name, created: true });
  });

  test('expired, wrongly signed, wrong audience or role-less tokens are refused', async () => {
    const expired = await hs256({ role: 'read' }, '-1m');
    expect(
      await statusOf(
        new DocFusionClient({ baseUrl: api.baseUrl, token: expired }).listCollections(),
      ),
    ).toBe(401);
    const forged = await new SignJWT({ role: 'admin' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('https://issuer.test')
      .setAudience('docfusion')
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode('another-secret-another-secret-xx'));
    expect(
      await statusOf(
        new DocFusionClient({ baseUrl: api.baseUrl, token: forged }).listCollections(),
      ),
    ).toBe(401);
    const audience = await new SignJWT({ role: 'admin' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('https://issuer.test')
      .setAudience('someone-else')
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(SECRET));
    expect(
      await statusOf(
        new DocFusionClient({ baseUrl: api.baseUrl, token: audience }).listCollections(),
      ),
    ).toBe(401);
    const roleless = await hs256({ role: 'root' });
    expect(
      await statusOf(
        new DocFusionClient({ baseUrl: api.baseUrl, token: roleless }).listCollections(),
      ),
    ).toBe(403);
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"role":"admin"}').toString('base64url')}.`;
    expect(
      await statusOf(new DocFusionClient({ baseUrl: api.baseUrl, token: none }).listCollections()),
    ).toBe(401);
  });
});

describe('limits and errors', () => {
  test('rate limit per key: 429 with Retry-After; other keys unaffected', async () => {
    const slow = api.client('slow');
    for (let i = 0; i < 3; i++) await slow.listCollections();
    const error = await slow.listCollections().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DocFusionError);
    const limited = error as DocFusionError;
    expect(limited.status).toBe(429);
    expect(limited.code).toBe('rate_limited');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await api.client('reader').listCollections()).collections.length).toBeGreaterThan(0);
  });

  test('a body over api.body_limit is a 413 with the stable error body', async () => {
    const big = { text: 'x'.repeat(100 * 1024) };
    const error = await api
      .client('writer')
      .insert(allowed, big)
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 413, code: 'too_large' });
  });

  test('invalid JSON, unknown routes and validation errors: {error: {code, message}} only, no stack', async () => {
    const headers = {
      authorization: `Bearer ${api.keys.writer ?? ''}`,
      'content-type': 'application/json',
    };
    const responses = await Promise.all([
      fetch(`${api.baseUrl}/v1/collections/${allowed}/documents`, {
        method: 'POST',
        headers,
        body: '{"a":',
      }),
      fetch(`${api.baseUrl}/v1/nothing-here`, { headers }),
      fetch(`${api.baseUrl}/v1/query`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ sql: 1 }),
      }),
      fetch(`${api.baseUrl}/v1/query`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ sql: 'SELECT 1', extra: true }),
      }),
    ]);
    expect(responses.map((r) => r.status)).toEqual([400, 404, 400, 400]);
    for (const response of responses) {
      const text = await response.text();
      const body = JSON.parse(text) as { error: Record<string, unknown> };
      expect(Object.keys(body)).toEqual(['error']);
      expect(typeof body.error.code).toBe('string');
      expect(typeof body.error.message).toBe('string');
      expect(text).not.toMatch(/stack|\.ts:\d+|at async|node_modules/);
    }
  });

  test('metrics need an admin credential when protected; health stays open', async () => {
    expect((await fetch(`${api.baseUrl}/metrics`)).status).toBe(401);
    const reader = await fetch(`${api.baseUrl}/metrics`, {
      headers: { authorization: `Bearer ${api.keys.reader ?? ''}` },
    });
    expect(reader.status).toBe(403);
    const admin = await fetch(`${api.baseUrl}/metrics`, {
      headers: { authorization: `Bearer ${api.keys.admin ?? ''}` },
    });
    expect(admin.status).toBe(200);
    expect(await admin.text()).toContain('docfusion_');
    expect((await fetch(`${api.baseUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${api.baseUrl}/readyz`)).status).toBe(200);
  });
});

describe('anonymous role', () => {
  test('api.anonymous_role lets requests without credentials in with that role', async () => {
    const open = await startApiProxy({ api: { anonymousRole: 'read' } });
    try {
      const anonymous = open.client();
      expect(Array.isArray((await anonymous.listCollections()).collections)).toBe(true);
      expect(await statusOf(anonymous.createCollection(uniqueName('anon')))).toBe(403);
    } finally {
      await open.stop();
    }
  });
});

describe('OpenAPI', () => {
  test('/openapi.json is a valid OpenAPI 3.1 document', async () => {
    const validator = new Validator();
    const result = await validator.validate(
      api.openapi.document as unknown as Record<string, unknown>,
    );
    expect(result.errors).toBeUndefined();
    expect(result.valid).toBe(true);
    expect(api.openapi.document.openapi).toBe('3.1.0');
  });

  test('the SDK calls exactly the /v1 operations the document describes', () => {
    const documented = Object.entries(api.openapi.document.paths).flatMap(([route, methods]) =>
      Object.keys(methods)
        .filter((method) => method !== 'head' && route.startsWith('/v1/'))
        .map((method) => `${method} ${route}`),
    );
    expect(OPERATIONS.map(([method, route]) => `${method} ${route}`).sort()).toEqual(
      documented.sort(),
    );
  });

  test('/docs serves the interactive documentation', async () => {
    const response = await fetch(`${api.baseUrl}/docs/`);
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('<html');
  });
});

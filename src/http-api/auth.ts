import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  createLocalJWKSet,
  errors as joseErrors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import type { ApiConfig, ApiRole } from '../config-types.js';
import { ApiError } from './api-error.js';

/** Who is calling: from an API key, a JWT, or the anonymous role. */
export interface Principal {
  readonly name: string;
  readonly role: ApiRole;
  /** Collections it may use; null = all. */
  readonly collections: ReadonlySet<string> | null;
  /** Its own rate limit (requests per window), when configured. */
  readonly rateLimit: number | null;
}

const RANK: Readonly<Record<ApiRole, number>> = { read: 1, write: 2, admin: 3 };
/** API keys remembered after their first hash (a bound, not an expected size). */
const MAX_REMEMBERED_KEYS = 10_000;
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** `sha256:<hex>` of an API key, as stored in api.keys[].hash. */
export function hashApiKey(key: string): string {
  return `sha256:${createHash('sha256').update(key, 'utf8').digest('hex')}`;
}

export function requireRole(principal: Principal, role: ApiRole): void {
  if (RANK[principal.role] < RANK[role]) {
    throw new ApiError(
      403,
      'forbidden',
      `this needs the ${role} role; the caller has ${principal.role}`,
    );
  }
}

export function requireCollection(principal: Principal, collection: string): void {
  if (principal.collections !== null && !principal.collections.has(collection)) {
    throw new ApiError(403, 'forbidden', `the caller may not use collection "${collection}"`);
  }
}

/**
 * Checks credentials: `X-API-Key: KEY`, or `Authorization: Bearer KEY|JWT`. API keys are
 * compared by their SHA-256 (the configuration holds only hashes). JWTs are verified with the
 * HS256 secret or the JWKS file's keys, and their role claim mapped to a role.
 */
export class Authenticator {
  private readonly keys: ReadonlyMap<string, Principal>;
  /** Valid API keys seen, by the key itself: saves a SHA-256 per request. */
  private readonly seen = new Map<string, Principal>();
  private readonly jwtKey: JWTVerifyGetKey | undefined;
  private readonly algorithms: string[];

  constructor(private readonly config: ApiConfig) {
    this.keys = new Map(
      config.keys.map((key) => [
        key.hash,
        {
          name: key.name,
          role: key.role,
          collections: key.collections === null ? null : new Set(key.collections),
          rateLimit: key.rateLimit,
        },
      ]),
    );
    const { hs256Secret, jwksFile } = config.jwt;
    const secret = hs256Secret === null ? undefined : new TextEncoder().encode(hs256Secret);
    const jwks =
      jwksFile === null
        ? undefined
        : createLocalJWKSet(
            JSON.parse(readFileSync(jwksFile, 'utf8')) as Parameters<typeof createLocalJWKSet>[0],
          );
    this.algorithms = [
      ...(secret ? ['HS256'] : []),
      ...(jwks ? ['RS256', 'RS384', 'RS512', 'PS256', 'ES256', 'ES384', 'EdDSA'] : []),
    ];
    if (secret || jwks) {
      this.jwtKey = async (header, token) => {
        if (header.alg === 'HS256' && secret) return secret;
        if (jwks) return jwks(header, token);
        throw new joseErrors.JOSEAlgNotAllowed('algorithm not allowed');
      };
    }
  }

  /** The caller, or null for a request without credentials. Bad credentials are a 401. */
  async authenticate(
    headers: Readonly<Record<string, string | string[] | undefined>>,
  ): Promise<Principal | null> {
    const apiKey = header(headers['x-api-key']);
    const authorization = header(headers.authorization);
    let token: string | undefined = apiKey;
    if (token === undefined && authorization !== undefined) {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
      if (!match?.[1]) throw unauthorized('Authorization must be "Bearer <API key or JWT>"');
      token = match[1];
    }
    if (token === undefined) return null;
    const known = this.seen.get(token);
    if (known) return known;
    const byKey = this.keys.get(hashApiKey(token));
    if (byKey) {
      if (this.seen.size >= MAX_REMEMBERED_KEYS) this.seen.clear();
      this.seen.set(token, byKey);
      return byKey;
    }
    if (apiKey === undefined && this.jwtKey && JWT_SHAPE.test(token))
      return this.verifyJwt(token, this.jwtKey);
    throw unauthorized('invalid credentials');
  }

  private async verifyJwt(token: string, key: JWTVerifyGetKey): Promise<Principal> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, key, {
        algorithms: this.algorithms,
        ...(this.config.jwt.issuer === null ? {} : { issuer: this.config.jwt.issuer }),
        ...(this.config.jwt.audience === null ? {} : { audience: this.config.jwt.audience }),
      }));
    } catch (error) {
      const reason = error instanceof joseErrors.JWTExpired ? 'token expired' : 'invalid token';
      throw unauthorized(reason);
    }
    const role = payload[this.config.jwt.roleClaim];
    if (role !== 'read' && role !== 'write' && role !== 'admin') {
      throw new ApiError(
        403,
        'forbidden',
        `the token's ${this.config.jwt.roleClaim} claim is not read, write or admin`,
      );
    }
    const claimed = payload[this.config.jwt.collectionsClaim];
    const collections = Array.isArray(claimed)
      ? new Set(claimed.filter((c): c is string => typeof c === 'string'))
      : null;
    return { name: `jwt:${payload.sub ?? 'anonymous'}`, role, collections, rateLimit: null };
  }
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function unauthorized(message: string): ApiError {
  return new ApiError(401, 'unauthorized', message);
}

/**
 * SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL speaks it, with node:crypto only: stored
 * verifiers, the server side (the proxy authenticating a client) and the client side (the proxy
 * logging into the upstream, with a password or with keys recovered from the client's proof —
 * SCRAM pass-through, as PgBouncer does). Channel binding (SCRAM-SHA-256-PLUS) is not offered.
 *
 * Passwords are normalised as Postgres does (see saslprep.ts and its limitation).
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { PgError, SqlState, protocolViolation } from './pg-error.js';
import { scramPasswordBytes } from './saslprep.js';

export const SCRAM_SHA_256 = 'SCRAM-SHA-256';
export const DEFAULT_SCRAM_ITERATIONS = 4096;
const KEY_LENGTH = 32;

export interface ScramVerifier {
  readonly iterations: number;
  readonly salt: Buffer;
  readonly storedKey: Buffer;
  readonly serverKey: Buffer;
}

export interface ScramKeys {
  readonly clientKey: Buffer;
  readonly storedKey: Buffer;
  readonly serverKey: Buffer;
}

// ---------------------------------------------------------------------------------------------
// Primitives and verifiers

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function hmac(key: Buffer, data: string | Buffer): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

function sha256(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest();
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i++) out[i] = (a[i] ?? 0) ^ (b[i] ?? 0);
  return out;
}

/** Strict base64 decoding; null when `text` is not canonical base64. */
function fromBase64(text: string): Buffer | null {
  return BASE64.test(text) ? Buffer.from(text, 'base64') : null;
}

/** ClientKey, StoredKey and ServerKey for a password (PBKDF2-HMAC-SHA-256). */
export function scramKeysFromPassword(
  password: string | Buffer,
  salt: Buffer,
  iterations: number,
): ScramKeys {
  const salted = pbkdf2Sync(scramPasswordBytes(password), salt, iterations, KEY_LENGTH, 'sha256');
  const clientKey = hmac(salted, 'Client Key');
  return { clientKey, storedKey: sha256(clientKey), serverKey: hmac(salted, 'Server Key') };
}

/** A verifier in pg_authid.rolpassword's format: `SCRAM-SHA-256$iter:salt$StoredKey:ServerKey`. */
export function makeScramVerifier(
  password: string,
  iterations = DEFAULT_SCRAM_ITERATIONS,
  salt: Buffer = randomBytes(16),
): string {
  const { storedKey, serverKey } = scramKeysFromPassword(password, salt, iterations);
  const b64 = (b: Buffer): string => b.toString('base64');
  return `${SCRAM_SHA_256}$${iterations}:${b64(salt)}$${b64(storedKey)}:${b64(serverKey)}`;
}

/** Parses a stored verifier; null if it is not a well-formed SCRAM-SHA-256 verifier. */
export function parseScramVerifier(s: string): ScramVerifier | null {
  const m = /^SCRAM-SHA-256\$([0-9]{1,10}):([^$:]+)\$([^$:]+):([^$:]+)$/.exec(s);
  if (m === null) return null;
  const iterations = Number(m[1]);
  const salt = fromBase64(m[2] ?? '');
  const storedKey = fromBase64(m[3] ?? '');
  const serverKey = fromBase64(m[4] ?? '');
  if (iterations < 1 || iterations > 0x7fffffff || salt === null || salt.length === 0) return null;
  if (storedKey?.length !== KEY_LENGTH || serverKey?.length !== KEY_LENGTH) return null;
  return { iterations, salt, storedKey, serverKey };
}

// ---------------------------------------------------------------------------------------------
// Message parsing

function malformed(detail: string): PgError {
  return new PgError(SqlState.ProtocolViolation, 'malformed SCRAM message', {
    severity: 'FATAL',
    detail,
  });
}

function scramText(data: Buffer): string {
  if (data.length === 0) throw malformed('The message is empty.');
  if (data.includes(0)) throw malformed('The message contains a NUL byte.');
  try {
    return strictUtf8.decode(data);
  } catch {
    throw malformed('The message is not valid UTF-8.');
  }
}

/** Reads comma-separated `a=value` attributes. */
class Attributes {
  pos = 0;
  constructor(
    readonly text: string,
    private readonly what: string,
  ) {}

  get atEnd(): boolean {
    return this.pos >= this.text.length;
  }

  /** Reads one attribute (checking its name if given) and the comma after it. */
  read(name?: string): { name: string; value: string; start: number; last: boolean } {
    const start = this.pos;
    const attr = this.text[start];
    if (attr === undefined) throw malformed(`Attribute expected, but found end of ${this.what}.`);
    if (name !== undefined && attr !== name) {
      throw malformed(`Expected attribute "${name}" but found "${attr}" in ${this.what}.`);
    }
    if (!/^[A-Za-z]$/.test(attr) || this.text[start + 1] !== '=') {
      throw malformed(`Malformed attribute at offset ${start} in ${this.what}.`);
    }
    const comma = this.text.indexOf(',', start + 2);
    const end = comma < 0 ? this.text.length : comma;
    this.pos = comma < 0 ? end : comma + 1;
    return { name: attr, value: this.text.slice(start + 2, end), start, last: comma < 0 };
  }
}

/** printable = %x21-2B / %x2D-7E (RFC 5802). */
function isPrintable(s: string): boolean {
  return /^[\x21-\x2b\x2d-\x7e]+$/.test(s);
}

export interface ClientFirstMessage {
  /** `n,,` or `y,,`. */
  readonly gs2Header: string;
  readonly channelBinding: 'n' | 'y' | 'p';
  readonly clientNonce: string;
  readonly clientFirstBare: string;
}

/**
 * Parses client-first-message. Rejects channel binding `p=` (we offer no -PLUS mechanism) with
 * 08P01, an authzid `a=` or a mandatory extension with 0A000. The user name is ignored, as
 * Postgres does (the startup packet's user counts).
 */
export function parseClientFirstMessage(data: Buffer): ClientFirstMessage {
  const text = scramText(data);
  const flag = text[0];
  if (flag === 'p') {
    throw malformed(
      'The client selected SCRAM-SHA-256 without channel binding, but the SCRAM message includes channel binding data.',
    );
  }
  if (flag !== 'n' && flag !== 'y') throw malformed(`Unexpected channel-binding flag "${flag}".`);
  if (text[1] !== ',') throw malformed('Comma expected after the channel-binding flag.');
  if (text[2] === 'a') {
    throw new PgError(
      SqlState.FeatureNotSupported,
      'client uses authorization identity, but it is not supported',
      { severity: 'FATAL' },
    );
  }
  if (text[2] !== ',') throw malformed('Comma expected after the authorization identity.');
  const gs2Header = text.slice(0, 3);
  const clientFirstBare = text.slice(3);
  if (clientFirstBare.startsWith('m')) {
    throw new PgError(
      SqlState.FeatureNotSupported,
      'client requires an unsupported SCRAM extension',
      { severity: 'FATAL' },
    );
  }
  const attrs = new Attributes(clientFirstBare, 'client-first-message');
  attrs.read('n');
  const nonce = attrs.read('r');
  if (!isPrintable(nonce.value))
    throw malformed('Invalid or missing nonce in client-first-message.');
  while (!attrs.atEnd) attrs.read();
  return { gs2Header, channelBinding: flag, clientNonce: nonce.value, clientFirstBare };
}

/** server-first-message: `r=<client nonce><server nonce>,s=<base64 salt>,i=<iterations>`. */
export function serverFirstMessage(
  clientNonce: string,
  serverNonce: string,
  salt: Buffer,
  iterations: number,
): string {
  return `r=${clientNonce}${serverNonce},s=${salt.toString('base64')},i=${iterations}`;
}

export interface ClientFinalMessage {
  /** The `c=` attribute, base64 of the gs2 header (plus channel-binding data with -PLUS). */
  readonly channelBinding: string;
  readonly nonce: string;
  readonly proof: Buffer;
  readonly clientFinalWithoutProof: string;
}

/** Parses client-final-message: `c=...,r=...[,extensions],p=<base64 proof>`. */
export function parseClientFinalMessage(data: Buffer): ClientFinalMessage {
  const text = scramText(data);
  const attrs = new Attributes(text, 'client-final-message');
  const channelBinding = attrs.read('c').value;
  const nonce = attrs.read('r').value;
  for (;;) {
    const attr = attrs.read();
    if (attr.name !== 'p') continue;
    if (!attr.last) throw malformed('Garbage found at the end of client-final-message.');
    const proof = fromBase64(attr.value);
    if (proof?.length !== KEY_LENGTH) throw malformed('Malformed proof in client-final-message.');
    return { channelBinding, nonce, proof, clientFinalWithoutProof: text.slice(0, attr.start - 1) };
  }
}

/**
 * Checks what the proxy must check in client-final-message before the proof: the channel
 * binding echoes the gs2 header and the nonce is the combined one. Throws 08P01 otherwise.
 */
export function checkClientFinal(
  first: ClientFirstMessage,
  serverNonce: string,
  final: ClientFinalMessage,
): void {
  if (final.channelBinding !== Buffer.from(first.gs2Header, 'utf8').toString('base64')) {
    throw new PgError(
      SqlState.ProtocolViolation,
      'unexpected SCRAM channel-binding attribute in client-final-message',
      { severity: 'FATAL' },
    );
  }
  if (final.nonce !== first.clientNonce + serverNonce) throw malformed('Nonce does not match.');
}

/**
 * Recovers ClientKey = proof XOR HMAC(StoredKey, AuthMessage) and returns it when
 * H(ClientKey) = StoredKey (compared in constant time), else null.
 */
export function verifyClientProof(args: {
  readonly storedKey: Buffer;
  readonly authMessage: string;
  readonly proof: Buffer;
}): Buffer | null {
  if (args.proof.length !== KEY_LENGTH || args.storedKey.length !== KEY_LENGTH) return null;
  const clientKey = xor(args.proof, hmac(args.storedKey, args.authMessage));
  return timingSafeEqual(sha256(clientKey), args.storedKey) ? clientKey : null;
}

/** server-final-message: `v=<base64 HMAC(ServerKey, AuthMessage)>`. */
export function serverFinalMessage(serverKey: Buffer, authMessage: string): string {
  return `v=${hmac(serverKey, authMessage).toString('base64')}`;
}

function newNonce(): string {
  return randomBytes(18).toString('base64');
}

// ---------------------------------------------------------------------------------------------
// Sessions

/** Per-process secret for the salts of mock verifiers (unknown users), as Postgres does. */
const MOCK_SECRET = randomBytes(32);

export interface ScramServerOptions {
  /** The startup packet's user, named in the 28P01 error message. */
  readonly user?: string;
  /** Fixed server nonce (tests only); default 18 random bytes in base64. */
  readonly serverNonce?: string;
}

/** The server side of one SCRAM-SHA-256 exchange: the proxy authenticating a client. */
export class ScramServerSession {
  private readonly user: string | undefined;
  private readonly serverNonce: string;
  private first: ClientFirstMessage | undefined;
  private serverFirst = '';
  private verifier: ScramVerifier | undefined;
  private mock = false;
  private done = false;

  constructor(options: ScramServerOptions = {}) {
    this.user = options.user;
    this.serverNonce = options.serverNonce ?? newNonce();
  }

  /**
   * Handles the SASLInitialResponse data; returns server-first-message. A null or unparsable
   * verifier (unknown user, non-SCRAM password) runs a mock exchange that fails at `finish`,
   * so a client cannot tell which users exist.
   */
  start(clientFirst: Buffer, verifier: string | ScramVerifier | null): string {
    if (this.first !== undefined) throw protocolViolation('unexpected SCRAM client-first-message');
    this.first = parseClientFirstMessage(clientFirst);
    const parsed = typeof verifier === 'string' ? parseScramVerifier(verifier) : verifier;
    if (parsed === null) {
      this.mock = true;
      const salt = sha256(Buffer.concat([Buffer.from(this.user ?? '', 'utf8'), MOCK_SECRET]));
      this.verifier = {
        iterations: DEFAULT_SCRAM_ITERATIONS,
        salt: salt.subarray(0, 16),
        storedKey: randomBytes(KEY_LENGTH),
        serverKey: randomBytes(KEY_LENGTH),
      };
    } else {
      this.verifier = parsed;
    }
    this.serverFirst = serverFirstMessage(
      this.first.clientNonce,
      this.serverNonce,
      this.verifier.salt,
      this.verifier.iterations,
    );
    return this.serverFirst;
  }

  /**
   * Handles the SASLResponse data; returns server-final-message and the recovered ClientKey.
   * @throws PgError 08P01 on a malformed message or nonce/channel-binding mismatch, 28P01
   *   (FATAL) on a wrong proof.
   */
  finish(clientFinal: Buffer): { serverFinal: string; clientKey: Buffer } {
    const first = this.first;
    const verifier = this.verifier;
    if (first === undefined || verifier === undefined || this.done) {
      throw protocolViolation('unexpected SCRAM client-final-message');
    }
    this.done = true;
    const final = parseClientFinalMessage(clientFinal);
    checkClientFinal(first, this.serverNonce, final);
    const authMessage = `${first.clientFirstBare},${this.serverFirst},${final.clientFinalWithoutProof}`;
    const clientKey = verifyClientProof({
      storedKey: verifier.storedKey,
      authMessage,
      proof: final.proof,
    });
    if (clientKey === null || this.mock) {
      throw new PgError(
        SqlState.InvalidPassword,
        this.user === undefined
          ? 'password authentication failed'
          : `password authentication failed for user "${this.user}"`,
        { severity: 'FATAL' },
      );
    }
    return { serverFinal: serverFinalMessage(verifier.serverKey, authMessage), clientKey };
  }
}

/** A password, or the keys of SCRAM pass-through (which embody the verifier's salt/iterations). */
export type ScramClientCredentials =
  { readonly password: string } | { readonly clientKey: Buffer; readonly serverKey: Buffer };

export interface ScramClientOptions {
  /** User name sent in client-first-message; Postgres ignores it. Default '*'. */
  readonly user?: string;
  /** Fixed client nonce (tests only). */
  readonly nonce?: string;
}

/** The client side of one SCRAM-SHA-256 exchange: the proxy logging into the upstream. */
export class ScramClientSession {
  private readonly credentials: ScramClientCredentials;
  private readonly nonce: string;
  private readonly clientFirstBare: string;
  private expectedServerSignature: Buffer | undefined;

  constructor(credentials: ScramClientCredentials, options: ScramClientOptions = {}) {
    this.credentials = credentials;
    this.nonce = options.nonce ?? newNonce();
    const user = (options.user ?? '*').replaceAll('=', '=3D').replaceAll(',', '=2C');
    this.clientFirstBare = `n=${user},r=${this.nonce}`;
  }

  /** client-first-message, the SASLInitialResponse data: `n,,n=*,r=<nonce>`. */
  clientFirstMessage(): string {
    return `n,,${this.clientFirstBare}`;
  }

  /** Handles AuthenticationSASLContinue data; returns client-final-message. */
  handleServerFirst(data: Buffer): string {
    if (this.expectedServerSignature !== undefined) {
      throw protocolViolation('unexpected SCRAM server-first-message');
    }
    const serverFirst = scramText(data);
    const attrs = new Attributes(serverFirst, 'server-first-message');
    const nonce = attrs.read('r').value;
    const salt = fromBase64(attrs.read('s').value);
    const iterationsText = attrs.read('i').value;
    while (!attrs.atEnd) attrs.read();
    if (!nonce.startsWith(this.nonce) || nonce.length === this.nonce.length) {
      throw malformed('Server nonce does not start with the client nonce.');
    }
    if (!isPrintable(nonce)) throw malformed('Invalid server nonce.');
    if (salt === null || salt.length === 0)
      throw malformed('Invalid salt in server-first-message.');
    const iterations = /^[0-9]{1,10}$/.test(iterationsText) ? Number(iterationsText) : 0;
    if (iterations < 1 || iterations > 0x7fffffff) throw malformed('Invalid iteration count.');
    const keys =
      'password' in this.credentials
        ? scramKeysFromPassword(this.credentials.password, salt, iterations)
        : {
            clientKey: this.credentials.clientKey,
            storedKey: sha256(this.credentials.clientKey),
            serverKey: this.credentials.serverKey,
          };
    const withoutProof = `c=biws,r=${nonce}`;
    const authMessage = `${this.clientFirstBare},${serverFirst},${withoutProof}`;
    const proof = xor(keys.clientKey, hmac(keys.storedKey, authMessage));
    this.expectedServerSignature = hmac(keys.serverKey, authMessage);
    return `${withoutProof},p=${proof.toString('base64')}`;
  }

  /** Checks AuthenticationSASLFinal data; throws on an `e=` error or a wrong signature. */
  verifyServerFinal(data: Buffer): void {
    const expected = this.expectedServerSignature;
    if (expected === undefined) throw protocolViolation('unexpected SCRAM server-final-message');
    const text = scramText(data);
    const attrs = new Attributes(text, 'server-final-message');
    const attr = attrs.read();
    if (attr.name === 'e') {
      throw new PgError(SqlState.InvalidPassword, `SCRAM authentication failed: ${attr.value}`, {
        severity: 'FATAL',
      });
    }
    if (attr.name !== 'v') throw malformed('Expected attribute "v" in server-final-message.');
    const signature = fromBase64(attr.value);
    if (signature?.length !== KEY_LENGTH || !timingSafeEqual(signature, expected)) {
      throw new PgError(
        SqlState.InvalidAuthorizationSpecification,
        'incorrect server signature in SCRAM exchange',
        { severity: 'FATAL' },
      );
    }
  }
}

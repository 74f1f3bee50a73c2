import { randomBytes } from 'node:crypto';
import { FrontendCode } from '../protocol/message-codes.js';
import * as be from '../protocol/backend-encoders.js';
import {
  decodePasswordMessage,
  decodeSASLInitialResponse,
  decodeSASLResponse,
} from '../protocol/frontend-decoders.js';
import { md5PasswordHash, verifyMd5Response } from '../protocol/md5.js';
import {
  makeScramVerifier,
  parseScramVerifier,
  ScramServerSession,
  type ScramVerifier,
} from '../protocol/scram.js';
import { PgError, SqlState, protocolViolation } from '../protocol/pg-error.js';
import type { Frame } from '../protocol/frame-reader.js';
import type { AuthMethod } from './config-types.js';
import type { CredentialStore, StoredSecret } from './credentials.js';
import type { FrameStream } from './frame-stream.js';
import type { UpstreamCredentials } from './upstream-connection.js';

export interface ClientAuthInput {
  readonly stream: FrameStream;
  readonly send: (message: Buffer) => void;
  readonly user: string;
  readonly method: AuthMethod;
  readonly store: CredentialStore;
}

/**
 * Runs the authentication exchange with a client and returns what the proxy can log in
 * upstream with as that same user: the SCRAM keys recovered from the client's proof, the md5
 * hash, or the cleartext password. Mirrors Postgres: `md5` falls back to SCRAM for users whose
 * secret is a SCRAM verifier, `scram-sha-256` falls back to md5 for md5 secrets.
 * @throws PgError 28P01 (FATAL) when the password is wrong or the user is unknown.
 */
export async function authenticateClient(input: ClientAuthInput): Promise<UpstreamCredentials> {
  if (input.method === 'trust') return { kind: 'none' };
  const secret = await input.store.lookup(input.user);
  const failed = (): PgError =>
    new PgError(
      SqlState.InvalidPassword,
      `password authentication failed for user "${input.user}"`,
      {
        severity: 'FATAL',
      },
    );

  if (input.method === 'password') {
    input.send(be.authenticationCleartextPassword());
    const { password } = decodePasswordMessage(expectPassword(await input.stream.next()).body);
    if (!secret || !passwordMatches(input.user, password, secret)) throw failed();
    return { kind: 'password', password };
  }

  const useMd5 = secret?.kind === 'md5' || (secret?.kind === 'plain' && input.method === 'md5');
  if (useMd5) {
    const salt = randomBytes(4);
    input.send(be.authenticationMD5Password(salt));
    const { password: response } = decodePasswordMessage(
      expectPassword(await input.stream.next()).body,
    );
    const hash = secret.kind === 'md5' ? secret.hash : md5PasswordHash(input.user, secret.password);
    if (!verifyMd5Response(hash, salt, response)) throw failed();
    return secret.kind === 'plain'
      ? { kind: 'password', password: secret.password }
      : { kind: 'md5-hash', hash };
  }

  // SCRAM-SHA-256, against the real verifier, or a mock exchange that fails for unknown users.
  const verifier = scramVerifierFor(secret);
  input.send(be.authenticationSASL(['SCRAM-SHA-256']));
  const initial = decodeSASLInitialResponse(expectPassword(await input.stream.next()).body);
  if (initial.mechanism !== 'SCRAM-SHA-256') {
    throw new PgError(
      SqlState.ProtocolViolation,
      `client selected an invalid SASL authentication mechanism "${initial.mechanism}"`,
      { severity: 'FATAL' },
    );
  }
  if (!initial.data) throw protocolViolation('SASLInitialResponse without data');
  const scram = new ScramServerSession({ user: input.user });
  input.send(be.authenticationSASLContinue(scram.start(initial.data, verifier)));
  const response = decodeSASLResponse(expectPassword(await input.stream.next()).body);
  const outcome = scram.finish(response.data);
  if (!secret || !verifier) throw failed();
  input.send(be.authenticationSASLFinal(outcome.serverFinal));
  if (secret.kind === 'plain') return { kind: 'password', password: secret.password };
  return { kind: 'scram-keys', clientKey: outcome.clientKey, serverKey: verifier.serverKey };
}

function expectPassword(frame: Frame): Frame {
  if (frame.type !== FrontendCode.Password) {
    throw protocolViolation(
      `expected a password response, got message type 0x${frame.type.toString(16)}`,
    );
  }
  return frame;
}

/** The SCRAM verifier to check the client against; null (unknown user) runs a mock exchange. */
function scramVerifierFor(secret: StoredSecret | null): ScramVerifier | null {
  if (secret?.kind === 'scram') return secret;
  if (secret?.kind === 'plain') return parseScramVerifier(makeScramVerifier(secret.password));
  return null;
}

function passwordMatches(user: string, password: string, secret: StoredSecret): boolean {
  switch (secret.kind) {
    case 'plain':
      return password === secret.password;
    case 'md5':
      return md5PasswordHash(user, password) === secret.hash;
    case 'scram':
      return makeScramVerifier(password, secret.iterations, secret.salt) === secret.verifier;
  }
}

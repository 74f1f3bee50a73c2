import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { md5Challenge, md5PasswordHash, verifyMd5Response } from '../../../protocol/md5.js';
import { PgError } from '../../../protocol/pg-error.js';
import { saslPrep, scramPasswordBytes } from '../../../protocol/saslprep.js';
import {
  ScramClientSession,
  ScramServerSession,
  makeScramVerifier,
  parseClientFinalMessage,
  parseClientFirstMessage,
  parseScramVerifier,
  scramKeysFromPassword,
} from '../../../protocol/scram.js';

function pgErrorOf(fn: () => unknown): PgError {
  try {
    fn();
  } catch (error) {
    if (error instanceof PgError) return error;
    throw new Error(`expected a PgError, got ${String(error)}`);
  }
  throw new Error('expected a PgError, nothing was thrown');
}

const b = (s: string): Buffer => Buffer.from(s, 'utf8');

/** Runs a whole exchange; returns the server's outcome. */
function exchange(client: ScramClientSession, server: ScramServerSession, verifier: string) {
  const serverFirst = server.start(b(client.clientFirstMessage()), verifier);
  const clientFinal = client.handleServerFirst(b(serverFirst));
  const outcome = server.finish(b(clientFinal));
  client.verifyServerFinal(b(outcome.serverFinal));
  return outcome;
}

describe('SCRAM-SHA-256', () => {
  const verifier = makeScramVerifier('correct horse', 4096);

  it('makes and parses verifiers', () => {
    const salt = randomBytes(16);
    const v = makeScramVerifier('pw', 1000, salt);
    expect(v).toMatch(
      /^SCRAM-SHA-256\$1000:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]{44}:[A-Za-z0-9+/=]{44}$/,
    );
    const parsed = parseScramVerifier(v);
    const keys = scramKeysFromPassword('pw', salt, 1000);
    expect(parsed).toEqual({
      iterations: 1000,
      salt,
      storedKey: keys.storedKey,
      serverKey: keys.serverKey,
    });
    for (const bad of [
      '',
      'md5abc',
      'SCRAM-SHA-256$0:c2FsdA==$a:b',
      v.replace('$1000:', '$x:'),
      v.slice(0, -4),
      `${v}$`,
    ]) {
      expect(parseScramVerifier(bad)).toBeNull();
    }
  });

  it('completes an exchange between the client and server sessions', () => {
    const outcome = exchange(
      new ScramClientSession({ password: 'correct horse' }),
      new ScramServerSession({ user: 'alice' }),
      verifier,
    );
    expect(outcome.clientKey).toHaveLength(32);
    expect(outcome.serverFinal).toMatch(/^v=/);
  });

  it('rejects a wrong password with FATAL 28P01', () => {
    const err = pgErrorOf(() =>
      exchange(
        new ScramClientSession({ password: 'wrong' }),
        new ScramServerSession({ user: 'alice' }),
        verifier,
      ),
    );
    expect(err.code).toBe('28P01');
    expect(err.severity).toBe('FATAL');
    expect(err.message).toBe('password authentication failed for user "alice"');
  });

  it('runs a failing mock exchange for an unknown user', () => {
    const client = new ScramClientSession({ password: 'whatever' });
    const server = new ScramServerSession({ user: 'ghost' });
    const serverFirst = server.start(b(client.clientFirstMessage()), null);
    expect(serverFirst).toMatch(/,s=[A-Za-z0-9+/=]+,i=4096$/);
    const clientFinal = client.handleServerFirst(b(serverFirst));
    expect(pgErrorOf(() => server.finish(b(clientFinal))).code).toBe('28P01');
  });

  it('pass-through: the recovered ClientKey logs in again without the password', () => {
    const { clientKey } = exchange(
      new ScramClientSession({ password: 'correct horse' }),
      new ScramServerSession(),
      verifier,
    );
    const parsed = parseScramVerifier(verifier);
    if (parsed === null) throw new Error('bad verifier');
    const relay = new ScramClientSession({ clientKey, serverKey: parsed.serverKey });
    expect(() => exchange(relay, new ScramServerSession(), verifier)).not.toThrow();
    // Keys for a different verifier (other salt) do not work.
    const other = makeScramVerifier('correct horse', 4096);
    const err = pgErrorOf(() =>
      exchange(
        new ScramClientSession({ clientKey, serverKey: parsed.serverKey }),
        new ScramServerSession(),
        other,
      ),
    );
    expect(err.code).toBe('28P01');
  });

  it('rejects a tampered nonce or channel binding with 08P01', () => {
    const tamper = (edit: (clientFinal: string) => string): PgError => {
      const client = new ScramClientSession({ password: 'correct horse' });
      const server = new ScramServerSession();
      const clientFinal = client.handleServerFirst(
        b(server.start(b(client.clientFirstMessage()), verifier)),
      );
      return pgErrorOf(() => server.finish(b(edit(clientFinal))));
    };
    expect(tamper((m) => m.replace(/,r=([^,]+)/, ',r=$1x')).code).toBe('08P01');
    expect(tamper((m) => m.replace(/,r=[^,]+/, ',r=short')).code).toBe('08P01');
    expect(tamper((m) => m.replace('c=biws', 'c=eSws')).code).toBe('08P01');
    expect(tamper((m) => m.replace(/p=.*/, 'p=AAAA')).code).toBe('08P01');
    expect(tamper((m) => `${m},x=1`).code).toBe('08P01');
    // A flipped proof bit is a wrong password, not a protocol error.
    expect(
      tamper((m) => m.replace(/p=(.)/, (_all, c: string) => `p=${c === 'A' ? 'B' : 'A'}`)).code,
    ).toBe('28P01');
  });

  it('the client rejects a wrong server signature, an e= error and a foreign nonce', () => {
    const start = (): {
      client: ScramClientSession;
      serverFirst: string;
      server: ScramServerSession;
    } => {
      const client = new ScramClientSession({ password: 'correct horse' });
      const server = new ScramServerSession();
      return {
        client,
        server,
        serverFirst: server.start(b(client.clientFirstMessage()), verifier),
      };
    };
    const s1 = start();
    s1.client.handleServerFirst(b(s1.serverFirst));
    expect(() => {
      s1.client.verifyServerFinal(b(`v=${Buffer.alloc(32).toString('base64')}`));
    }).toThrow(PgError);
    expect(() => {
      s1.client.verifyServerFinal(b('e=invalid-proof'));
    }).toThrow(/invalid-proof/);
    const s2 = start();
    expect(() => s2.client.handleServerFirst(b(s2.serverFirst.replace(/^r=./, 'r=#')))).toThrow(
      PgError,
    );
    const s3 = start();
    expect(() => s3.client.handleServerFirst(b(s3.serverFirst.replace(/i=4096/, 'i=0')))).toThrow(
      PgError,
    );
  });

  it('parses and rejects client-first messages as Postgres does', () => {
    expect(parseClientFirstMessage(b('n,,n=,r=abc'))).toEqual({
      gs2Header: 'n,,',
      channelBinding: 'n',
      clientNonce: 'abc',
      clientFirstBare: 'n=,r=abc',
    });
    expect(parseClientFirstMessage(b('y,,n=user,r=abc,x=ext')).channelBinding).toBe('y');
    expect(
      pgErrorOf(() => parseClientFirstMessage(b('p=tls-server-end-point,,n=,r=abc'))).code,
    ).toBe('08P01');
    expect(pgErrorOf(() => parseClientFirstMessage(b('n,a=admin,n=,r=abc'))).code).toBe('0A000');
    expect(pgErrorOf(() => parseClientFirstMessage(b('n,,m=ext,n=,r=abc'))).code).toBe('0A000');
    for (const bad of [
      '',
      'x,,n=,r=a',
      'n,,n=',
      'n,,n=,r=',
      'n,,n=,r=a b',
      'n,,r=abc',
      'n',
      'n,',
      'n,,n=,r=a\0',
      'n,,n=,r=a,=x',
    ]) {
      expect(pgErrorOf(() => parseClientFirstMessage(b(bad))).code, bad).toBe('08P01');
    }
    expect(
      pgErrorOf(() => parseClientFirstMessage(Buffer.from([0x6e, 0x2c, 0x2c, 0xff]))).code,
    ).toBe('08P01');
  });

  it('parses client-final messages', () => {
    const proof = Buffer.alloc(32, 1).toString('base64');
    const parsed = parseClientFinalMessage(b(`c=biws,r=abc,x=ext,p=${proof}`));
    expect(parsed).toEqual({
      channelBinding: 'biws',
      nonce: 'abc',
      proof: Buffer.alloc(32, 1),
      clientFinalWithoutProof: 'c=biws,r=abc,x=ext',
    });
    for (const bad of [
      '',
      'c=biws',
      `r=abc,c=biws,p=${proof}`,
      `c=biws,r=abc,p=${proof},`,
      `c=biws,r=abc,p=${proof},x=1`,
      'c=biws,r=abc,p=!!!!',
    ]) {
      expect(pgErrorOf(() => parseClientFinalMessage(b(bad))).code, bad).toBe('08P01');
    }
  });

  it('matches the RFC 7677 test vector', () => {
    const clientFirst = 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO';
    const serverFirst =
      'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096';
    const clientFinal =
      'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=';
    const serverFinal = 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=';
    const client = new ScramClientSession(
      { password: 'pencil' },
      { user: 'user', nonce: 'rOprNGfwEbeRWgbNEkqO' },
    );
    expect(client.clientFirstMessage()).toBe(clientFirst);
    expect(client.handleServerFirst(b(serverFirst))).toBe(clientFinal);
    expect(() => {
      client.verifyServerFinal(b(serverFinal));
    }).not.toThrow();
    const server = new ScramServerSession({ serverNonce: '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0' });
    const v = makeScramVerifier('pencil', 4096, Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'));
    expect(server.start(b(clientFirst), v)).toBe(serverFirst);
    expect(server.finish(b(clientFinal)).serverFinal).toBe(serverFinal);
  });

  it('applies SASLprep to non-ASCII passwords', () => {
    expect(saslPrep('I\u00ADX')).toBe('IX'); // soft hyphen mapped to nothing
    expect(saslPrep('a\u00A0b')).toBe('a b'); // non-ASCII space
    expect(saslPrep('\u2168')).toBe('IX'); // NFKC
    expect(saslPrep('\u0007x')).toBeNull(); // prohibited (control)
    expect(saslPrep('\u0627\u0031')).toBeNull(); // RandAL not at the end
    expect(saslPrep('\u00AD')).toBeNull(); // empty after mapping
    expect(scramPasswordBytes('abc\u0007')).toEqual(b('abc\u0007')); // ASCII: as is
    expect(scramPasswordBytes('\u0007é')).toEqual(b('\u0007é')); // prohibited: raw bytes
    expect(scramPasswordBytes(Buffer.from([0xff, 0x41]))).toEqual(Buffer.from([0xff, 0x41]));
  });
});

describe('cross-check with a real Postgres', () => {
  async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({ connectionString: inject('upstreamUrl') });
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end();
    }
  }

  async function storedPassword(
    client: pg.Client,
    encryption: string,
    role: string,
    password: string,
  ): Promise<string> {
    await client.query(`SET password_encryption = '${encryption}'`);
    await client.query(`DROP ROLE IF EXISTS ${role}`);
    await client.query(`CREATE ROLE ${role} LOGIN PASSWORD ${client.escapeLiteral(password)}`);
    try {
      const result = await client.query<{ rolpassword: string }>(
        'SELECT rolpassword FROM pg_authid WHERE rolname = $1',
        [role],
      );
      const stored = result.rows[0]?.rolpassword;
      if (stored === undefined) throw new Error('role not found');
      return stored;
    } finally {
      await client.query(`DROP ROLE ${role}`);
    }
  }

  it('makeScramVerifier reproduces Postgres verifiers (ASCII and non-ASCII passwords)', async () => {
    const passwords = [
      'secret',
      'pässwörd',
      'ｐａｓｓ',
      'a\u00A0b',
      'I\u00ADX',
      '\u2168',
      'пароль',
      '密码',
      'x😀y',
      'ﬁ\u0007',
      '\u05E9\u05DC\u05D5\u05DD',
      '\u05E9\uFB01\u05DD',
      '\u05E9\uFB01',
      '\u0627\uFF11\u0627',
      '\u0627\u0968\u0627',
      'é\u0301',
      '\u0221ﬁ',
    ];
    await withAdmin(async (client) => {
      for (const [i, password] of passwords.entries()) {
        const stored = await storedPassword(client, 'scram-sha-256', `tmp_scram_${i}`, password);
        const parsed = parseScramVerifier(stored);
        expect(parsed, stored).not.toBeNull();
        if (parsed === null) continue;
        expect(makeScramVerifier(password, parsed.iterations, parsed.salt), password).toBe(stored);
      }
    });
  });

  it('md5PasswordHash reproduces Postgres md5 hashes', async () => {
    await withAdmin(async (client) => {
      const stored = await storedPassword(client, 'md5', 'tmp_md5', 'secret');
      expect(stored).toBe(md5PasswordHash('tmp_md5', 'secret'));
    });
  });

  it('logs into Postgres with the client session (password and pass-through keys)', async () => {
    // Exercised through pg: SCRAM verification against the real server's verifier.
    await withAdmin(async (client) => {
      await client.query("SET password_encryption = 'scram-sha-256'");
      await client.query('DROP ROLE IF EXISTS tmp_scram_login');
      await client.query("CREATE ROLE tmp_scram_login LOGIN PASSWORD 'secret'");
      try {
        const result = await client.query<{ rolpassword: string }>(
          "SELECT rolpassword FROM pg_authid WHERE rolname = 'tmp_scram_login'",
        );
        const stored = result.rows[0]?.rolpassword ?? '';
        // Our server session accepts our client for the verifier Postgres made.
        const outcome = exchange(
          new ScramClientSession({ password: 'secret' }),
          new ScramServerSession(),
          stored,
        );
        const parsed = parseScramVerifier(stored);
        if (parsed === null) throw new Error('bad verifier');
        exchange(
          new ScramClientSession({ clientKey: outcome.clientKey, serverKey: parsed.serverKey }),
          new ScramServerSession(),
          stored,
        );
      } finally {
        await client.query('DROP ROLE tmp_scram_login');
      }
    });
  });
});

describe('md5', () => {
  it('hashes, challenges and verifies', () => {
    const stored = md5PasswordHash('alice', 'secret');
    expect(stored).toMatch(/^md5[0-9a-f]{32}$/);
    const salt = Buffer.from([1, 2, 3, 4]);
    const response = md5Challenge(stored, salt);
    expect(verifyMd5Response(stored, salt, response)).toBe(true);
    expect(verifyMd5Response(stored, Buffer.from([1, 2, 3, 5]), response)).toBe(false);
    expect(verifyMd5Response(stored, salt, response.slice(0, -1))).toBe(false);
    expect(verifyMd5Response(stored, salt, '')).toBe(false);
    expect(verifyMd5Response('plaintext', salt, response)).toBe(false);
  });
});

import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parseScramVerifier, scramKeysFromPassword } from '../../protocol/scram.js';
import { hashPasswordCommand } from '../../src/hash-password.js';

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function run(argv: readonly string[], stdin: string): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await hashPasswordCommand(argv, {
    stdin: Readable.from([Buffer.from(stdin)]),
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
  });
  return { code, stdout, stderr };
}

/** RFC 5802 from first principles, independent of protocol/scram.ts. */
function rfc5802Keys(password: string, salt: Buffer, iterations: number) {
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  return {
    storedKey: createHash('sha256').update(clientKey).digest(),
    serverKey: createHmac('sha256', salted).update('Server Key').digest(),
  };
}

describe('docfusiondb hash-password', () => {
  it('prints a SCRAM-SHA-256 verifier by default that verifies the password', async () => {
    const { code, stdout, stderr } = await run([], 'correct horse battery staple\n');
    expect(code).toBe(0);
    expect(stderr).toBe('');
    expect(stdout).toMatch(/^SCRAM-SHA-256\$4096:[^$]+\$[^:]+:[^\n]+\n$/);
    const verifier = parseScramVerifier(stdout.trim());
    expect(verifier).not.toBeNull();
    if (verifier === null) return;
    expect(verifier.iterations).toBe(4096);
    const keys = rfc5802Keys('correct horse battery staple', verifier.salt, verifier.iterations);
    expect(verifier.storedKey.equals(keys.storedKey)).toBe(true);
    expect(verifier.serverKey.equals(keys.serverKey)).toBe(true);
    const wrong = scramKeysFromPassword('wrong', verifier.salt, verifier.iterations);
    expect(verifier.storedKey.equals(wrong.storedKey)).toBe(false);
  });

  it('uses a fresh salt each time', async () => {
    const a = await run([], 'pw\n');
    const b = await run([], 'pw\n');
    expect(a.stdout).not.toBe(b.stdout);
  });

  it('honours --iterations and --method scram-sha-256', async () => {
    const { code, stdout } = await run(
      ['--method', 'scram-sha-256', '--iterations', '10000'],
      'pw',
    );
    expect(code).toBe(0);
    const verifier = parseScramVerifier(stdout.trim());
    expect(verifier?.iterations).toBe(10_000);
    if (verifier === null) return;
    const keys = rfc5802Keys('pw', verifier.salt, 10_000);
    expect(verifier.storedKey.equals(keys.storedKey)).toBe(true);
  });

  it('warns about iteration counts below 4096', async () => {
    const { code, stderr } = await run(['--iterations', '100'], 'pw\n');
    expect(code).toBe(0);
    expect(stderr).toContain('below');
  });

  it("prints 'md5' + md5(password + user) with --method md5", async () => {
    const { code, stdout } = await run(['--method', 'md5', '--user', 'alice'], 's3cret\n');
    expect(code).toBe(0);
    const expected = 'md5' + createHash('md5').update('s3cretalice').digest('hex');
    expect(stdout).toBe(`${expected}\n`);
  });

  it('reads only the first line and strips CRLF', async () => {
    const a = await run(['--method', 'md5', '--user', 'u'], 'first\r\nsecond\n');
    expect(a.stdout.trim()).toBe('md5' + createHash('md5').update('firstu').digest('hex'));
    const b = await run(['--method', 'md5', '--user', 'u'], 'no newline');
    expect(b.stdout.trim()).toBe('md5' + createHash('md5').update('no newlineu').digest('hex'));
  });

  it.each([
    [['--method', 'md5'], 'pw\n', '--user: required'],
    [['--method', 'sha1'], 'pw\n', '--method: expected one of scram-sha-256, md5, got "sha1"'],
    [['--iterations', 'many'], 'pw\n', '--iterations: expected an integer'],
    [['--iterations', '0'], 'pw\n', '--iterations: expected an integer'],
    [['--method', 'md5', '--user', 'u', '--iterations', '5'], 'pw\n', '--iterations: only for'],
    [['--bogus'], 'pw\n', "Unknown option '--bogus'"],
    [['extra'], 'pw\n', "Unexpected argument 'extra'"],
    [[], '', 'no password on stdin'],
    [[], '\n', 'the password is empty'],
  ])('%j with stdin %j fails with code 2', async (argv, stdin, message) => {
    const { code, stdout, stderr } = await run(argv, stdin);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain(`docfusiondb hash-password: ${message}`);
  });

  it('prints usage with --help', async () => {
    const { code, stdout } = await run(['--help'], '');
    expect(code).toBe(0);
    expect(stdout).toContain('--method');
    expect(stdout).toContain('--user');
    expect(stdout).toContain('--iterations');
  });
});

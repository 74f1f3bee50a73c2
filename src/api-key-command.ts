import { randomBytes } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import { hashApiKey } from './http-api/auth.js';

const USAGE = `Usage: docfusiondb hash-api-key [--stdin]

Prints a new random API key and the hash to put in api.keys[].hash. With --stdin, hashes the
key read from standard input instead (one line; surrounding whitespace ignored).
`;

/** `docfusiondb hash-api-key`: exit status 0, or 2 on a usage error. */
export async function hashApiKeyCommand(
  args: readonly string[],
  io: { stdin: Readable; stdout: Writable; stderr: Writable },
): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    io.stdout.write(USAGE);
    return 0;
  }
  const unknown = args.filter((arg) => arg !== '--stdin');
  if (unknown.length > 0) {
    io.stderr.write(`hash-api-key: unknown argument ${unknown[0] ?? ''}\n${USAGE}`);
    return 2;
  }
  if (args.includes('--stdin')) {
    const chunks: Buffer[] = [];
    for await (const chunk of io.stdin) chunks.push(Buffer.from(chunk as Uint8Array));
    const key = Buffer.concat(chunks).toString('utf8').trim();
    if (key === '') {
      io.stderr.write('hash-api-key: no key on standard input\n');
      return 2;
    }
    io.stdout.write(`${hashApiKey(key)}\n`);
    return 0;
  }
  const key = `dfk_${randomBytes(32).toString('base64url')}`;
  io.stdout.write(`key:  ${key}\nhash: ${hashApiKey(key)}\n`);
  return 0;
}

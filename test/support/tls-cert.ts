import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { generate } from 'selfsigned';

export interface TestCertificate {
  /** PEM certificate: the server's, and the CA a verifying client trusts. */
  readonly cert: string;
  readonly key: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** SHA-256 fingerprint as Node prints it (`AB:CD:...`). */
  readonly fingerprint256: string;
  /** Removes the temporary directory holding the files. */
  remove(): Promise<void>;
}

/**
 * A fresh self-signed server certificate for `hostname` (CN and the only subject alternative
 * name, a DNS name), written with its key to a temporary directory.
 */
export async function makeTestCertificate(hostname = 'localhost'): Promise<TestCertificate> {
  const pems = await generate([{ name: 'commonName', value: hostname }], {
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: hostname }] },
    ],
  });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'docfusion-tls-'));
  const certFile = path.join(dir, 'server.crt');
  const keyFile = path.join(dir, 'server.key');
  await writeFile(certFile, pems.cert);
  await writeFile(keyFile, pems.private, { mode: 0o600 });
  return {
    cert: pems.cert,
    key: pems.private,
    certFile,
    keyFile,
    fingerprint256: new X509Certificate(pems.cert).fingerprint256,
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

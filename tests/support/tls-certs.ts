/**
 * Test certificates, made at test time with the `openssl` CLI (no private key is committed):
 * a CA, a server certificate it signs for `localhost` and 127.0.0.1, one for the SNI name
 * `other.test`, and a client certificate. Files live in a temporary directory (the paths are
 * there for curl, redis-cli and openssl s_client); the PEM text for zgnet's options.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Pair {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

export interface TestCerts {
  dir: string;
  caFile: string;
  ca: string;
  server: Pair;
  other: Pair;
  client: Pair;
  /** A self-signed certificate no test CA signed. */
  stranger: Pair;
  remove(): void;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

const KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function signed(dir: string, name: string, subject: string, san: string | undefined): Pair {
  openssl(dir, ['req', ...KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject]);
  const ext = path.join(dir, `${name}.ext`);
  fs.writeFileSync(ext, san === undefined ? 'extendedKeyUsage=clientAuth\n' : `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`);
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', ext, '-out', `${name}.crt`]);
  return pair(dir, name);
}

function pair(dir: string, name: string): Pair {
  const certFile = path.join(dir, `${name}.crt`);
  const keyFile = path.join(dir, `${name}.key`);
  return { certFile, keyFile, cert: fs.readFileSync(certFile, 'utf8'), key: fs.readFileSync(keyFile, 'utf8') };
}

export function makeTestCerts(): TestCerts {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zgnet-tls-'));
  openssl(dir, ['req', '-x509', ...KEY, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=zgnet test CA']);
  const server = signed(dir, 'server', '/CN=localhost', 'DNS:localhost,IP:127.0.0.1,IP:::1');
  const other = signed(dir, 'other', '/CN=other.test', 'DNS:other.test');
  const client = signed(dir, 'client', '/CN=zgnet test client', undefined);
  openssl(dir, ['req', '-x509', ...KEY, '-keyout', 'stranger.key', '-out', 'stranger.crt', '-days', '2', '-subj', '/CN=localhost']);
  const caFile = path.join(dir, 'ca.crt');
  return {
    dir,
    caFile,
    ca: fs.readFileSync(caFile, 'utf8'),
    server,
    other,
    client,
    stranger: pair(dir, 'stranger'),
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

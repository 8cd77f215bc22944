/**
 * TLS options, checked up front in both modes: `options.tls` of run()/rotate() and `tls` of
 * dial(). Certificates and keys are parsed here, by node:tls, so that a bad PEM, a wrong
 * passphrase or a key that does not match its certificate fails run()/dial() with
 * `ERR_TLS_CONFIG` — never a connection later. Option names and meanings are node:tls's.
 */
import { X509Certificate } from 'node:crypto';
import * as tls from 'node:tls';
import type { Network, PemInput, TlsVersion } from '../api.js';
import { ErrorCode, ZgnetError } from '../errors.js';
import type { NodeBuffer, SecureContext, SecureContextOptions } from '../node-types.js';

/** Default `handshakeTimeoutMs`: a peer that stalls mid-handshake holds its socket this long at most. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

const TLS_VERSIONS: readonly TlsVersion[] = ['TLSv1.2', 'TLSv1.3'];
const SERVER_KEYS = [
  'cert', 'key', 'ca', 'passphrase', 'ALPNProtocols', 'sni', 'requestCert', 'rejectUnauthorized', 'minVersion', 'handshakeTimeoutMs',
] as const;
const DIAL_KEYS = ['servername', 'ca', 'rejectUnauthorized', 'ALPNProtocols', 'cert', 'key', 'passphrase', 'minVersion'] as const;

/** `options.tls` after validation (internal). */
export interface ServerTls {
  /**
   * `options.tls` as the user gave it (PEM texts and plain values only): a handler module's
   * loops in other threads or processes check and parse it again there (host/multicore/).
   */
  readonly input: Readonly<Record<string, unknown>>;
  /** The default certificate, key, CA and version, checked: what node:tls's server parses again. */
  readonly contextOptions: SecureContextOptions;
  /** SNI names (lower case; `*.example.org` matches one label) to their contexts. */
  readonly sni: ReadonlyMap<string, SecureContext>;
  /** The same names' certificates and keys as PEM (what the native engine loads into OpenSSL). */
  readonly sniPem: ReadonlyMap<string, TlsPem>;
  readonly ALPNProtocols: string[] | undefined;
  readonly requestCert: boolean;
  /** With `requestCert`: a client without a certificate signed by `ca` fails the handshake. */
  readonly rejectUnauthorized: boolean;
  readonly handshakeTimeoutMs: number;
}

/** Checked PEM input as the native engine loads it (each may be absent where the role allows). */
export interface TlsPem {
  readonly cert?: Pem;
  readonly key?: Pem;
  readonly passphrase?: string;
  readonly ca?: Pem;
}

/** `tls` of dial() after validation (internal). */
export interface DialTls {
  readonly context: SecureContext;
  /** What `context` was made of (the native engine builds its own OpenSSL context from it). */
  readonly pem: TlsPem;
  readonly minVersion: TlsVersion | undefined;
  readonly servername: string | undefined;
  readonly rejectUnauthorized: boolean;
  readonly ALPNProtocols: string[] | undefined;
}

export function tlsConfigError(what: string, cause?: unknown): ZgnetError {
  const detail = cause instanceof Error ? `${what}: ${cause.message}` : what;
  return new ZgnetError(ErrorCode.TLS_CONFIG, detail, cause === undefined ? undefined : { cause });
}

function plainObject(value: unknown, name: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw tlsConfigError(`${name} must be an object`);
  return value as Record<string, unknown>;
}

function onlyKeys(o: Record<string, unknown>, allowed: readonly string[], name: string): void {
  for (const key of Object.keys(o)) {
    if (!allowed.includes(key)) throw tlsConfigError(`${name}.${key} is not a TLS option (expected one of ${allowed.join(', ')})`);
  }
}

function isPem(value: unknown): value is PemInput {
  const one = (v: unknown) => typeof v === 'string' || v instanceof Uint8Array;
  return one(value) || (Array.isArray(value) && value.length > 0 && value.every(one));
}

export type Pem = string | NodeBuffer | Array<string | NodeBuffer>;

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

/** OpenSSL skips what is not a certificate in a CA list: zgnet refuses it instead. */
function checkCertificates(ca: Pem): void {
  for (const one of Array.isArray(ca) ? ca : [ca]) {
    const blocks = one.toString().match(PEM_CERTIFICATE);
    if (blocks === null) throw new Error('no PEM certificate in the CA list');
    for (const block of blocks) new X509Certificate(block);
  }
}

/** PEM input as node:tls takes it (a Uint8Array becomes a Buffer view: no copy). */
function pem(value: unknown, name: string, required: boolean): Pem | undefined {
  if (value === undefined && !required) return undefined;
  if (!isPem(value)) throw tlsConfigError(`${name} must be PEM text: a string, a Buffer, or a non-empty array of them`);
  const one = (v: string | Uint8Array) => (typeof v === 'string' || Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength));
  return Array.isArray(value) ? value.map(one) : one(value);
}

function optionalBool(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw tlsConfigError(`${name} must be a boolean`);
  return value;
}

function alpn(value: unknown, name: string): string[] | undefined {
  if (value === undefined) return undefined;
  const ok = Array.isArray(value) && value.length > 0 && value.every((p) => typeof p === 'string' && p.length > 0 && Buffer.byteLength(p) < 256);
  if (!ok) throw tlsConfigError(`${name} must be a non-empty array of protocol names (1 to 255 bytes each)`);
  return [...(value as string[])];
}

function version(value: unknown, name: string): TlsVersion | undefined {
  if (value === undefined) return undefined;
  if (!TLS_VERSIONS.includes(value as TlsVersion)) throw tlsConfigError(`${name} must be ${TLS_VERSIONS.map((v) => `'${v}'`).join(' or ')}`);
  return value as TlsVersion;
}

/** node:tls parses the PEM now: a bad certificate, key or passphrase throws here (a CA: each is parsed). */
function secureContext(options: tls.SecureContextOptions, name: string): tls.SecureContext {
  try {
    if (options.ca !== undefined) checkCertificates(options.ca as Pem);
    return tls.createSecureContext(options);
  } catch (err) {
    throw tlsConfigError(`${name}: the certificate, key or CA cannot be used`, err);
  }
}

/** Validates `options.tls` of run()/rotate(); TLS serves streams only (tcp, unix). */
export function resolveServerTls(value: unknown, networks: readonly Network[]): ServerTls | undefined {
  if (value === undefined) return undefined;
  const o = plainObject(value, 'tls');
  onlyKeys(o, SERVER_KEYS, 'tls');
  if (networks.includes('udp')) throw tlsConfigError('tls serves tcp and unix addresses; udp has no TLS (DTLS is not supported)');
  if (o.passphrase !== undefined && typeof o.passphrase !== 'string') throw tlsConfigError('tls.passphrase must be a string');
  const minVersion = version(o.minVersion, 'tls.minVersion');
  const ca = pem(o.ca, 'tls.ca', false);
  const contextOptions: tls.SecureContextOptions = {
    cert: pem(o.cert, 'tls.cert', true), key: pem(o.key, 'tls.key', true), ca, passphrase: o.passphrase as string | undefined, minVersion,
  };
  secureContext(contextOptions, 'tls');
  const sni = new Map<string, tls.SecureContext>();
  const sniPem = new Map<string, TlsPem>();
  if (o.sni !== undefined) {
    for (const [servername, entry] of Object.entries(plainObject(o.sni, 'tls.sni'))) {
      const e = plainObject(entry, `tls.sni[${JSON.stringify(servername)}]`);
      const where = `tls.sni[${JSON.stringify(servername)}]`;
      onlyKeys(e, ['cert', 'key', 'passphrase'], where);
      if (!/^(\*\.)?[a-z0-9-]+(\.[a-z0-9-]+)*\.?$/i.test(servername)) throw tlsConfigError(`${where}: not a host name (or *.name)`);
      const name = servername.toLowerCase().replace(/\.$/, '');
      const entryPem = { cert: pem(e.cert, `${where}.cert`, true), key: pem(e.key, `${where}.key`, true), passphrase: e.passphrase as string | undefined, ca };
      sni.set(name, secureContext({ ...entryPem, minVersion }, where));
      sniPem.set(name, entryPem);
    }
  }
  const requestCert = optionalBool(o.requestCert, 'tls.requestCert', false);
  const handshakeTimeoutMs = o.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS;
  if (typeof handshakeTimeoutMs !== 'number' || !Number.isSafeInteger(handshakeTimeoutMs) || handshakeTimeoutMs < 1 || handshakeTimeoutMs > 2 ** 31 - 1) {
    throw tlsConfigError('tls.handshakeTimeoutMs must be an integer from 1 to 2147483647 (ms)');
  }
  return {
    input: o,
    contextOptions,
    sni,
    sniPem,
    ALPNProtocols: alpn(o.ALPNProtocols, 'tls.ALPNProtocols'),
    requestCert,
    rejectUnauthorized: optionalBool(o.rejectUnauthorized, 'tls.rejectUnauthorized', true),
    handshakeTimeoutMs,
  };
}

/** The context for the name a client asked for (exact, then `*.parent`), or undefined for the default. */
export function sniContext(config: ServerTls, servername: string): SecureContext | undefined {
  const name = servername.toLowerCase();
  const exact = config.sni.get(name);
  if (exact !== undefined) return exact;
  const dot = name.indexOf('.');
  return dot > 0 ? config.sni.get(`*${name.slice(dot)}`) : undefined;
}

/** Validates `tls` of dial() (`true`: the defaults — system CAs, verification on). */
export function resolveDialTls(value: unknown): DialTls | undefined {
  if (value === undefined || value === false) return undefined;
  const o = value === true ? {} : plainObject(value, 'tls');
  onlyKeys(o, DIAL_KEYS, 'tls');
  if (o.servername !== undefined && (typeof o.servername !== 'string' || o.servername.length === 0)) {
    throw tlsConfigError('tls.servername must be a non-empty string');
  }
  if (o.passphrase !== undefined && typeof o.passphrase !== 'string') throw tlsConfigError('tls.passphrase must be a string');
  const cert = pem(o.cert, 'tls.cert', false);
  const key = pem(o.key, 'tls.key', false);
  if ((cert === undefined) !== (key === undefined)) throw tlsConfigError('tls.cert and tls.key come together (a client certificate)');
  const dialPem = { ca: pem(o.ca, 'tls.ca', false), cert, key, passphrase: o.passphrase as string | undefined };
  const minVersion = version(o.minVersion, 'tls.minVersion');
  const context = secureContext({ ...dialPem, minVersion }, 'tls');
  return {
    context,
    pem: dialPem,
    minVersion,
    servername: o.servername as string | undefined,
    rejectUnauthorized: optionalBool(o.rejectUnauthorized, 'tls.rejectUnauthorized', true),
    ALPNProtocols: alpn(o.ALPNProtocols, 'tls.ALPNProtocols'),
  };
}

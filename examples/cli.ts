/**
 * What the example servers share around their handler: `--name value` arguments, and running
 * until SIGTERM/SIGINT (exit 0). Anything wrong — an unknown flag, a flag without its value, a
 * bad option, a busy port — is ONE line on stderr, `<example>: <reason>`, and exit 1.
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { rotate, run, type HandlerSpec, type Options, type TlsServerOptions } from '../host/index.js';

/** Prints `name: message` (with the error's code when it has one) and exits 1. */
export function fail(name: string, err: unknown): never {
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e?.code === 'string' && e.code.startsWith('ERR_') ? `${e.code}: ` : '';
  const message = typeof e?.message === 'string' ? e.message : String(err);
  console.error(`${name}: ${code}${message.split('\n')[0]}`);
  process.exit(1);
}

/**
 * The command line as `--name value` pairs, `defaults` naming every flag the example takes;
 * anything else ends the process through `fail`.
 */
export function cliArgs<K extends string>(name: string, defaults: Record<K, string>): Record<K, string> {
  const options = Object.fromEntries(Object.keys(defaults).map((k) => [k, { type: 'string' as const }]));
  try {
    const { values } = parseArgs({ args: process.argv.slice(2), options, strict: true, allowPositionals: false });
    return { ...defaults, ...(values as Partial<Record<K, string>>) };
  } catch (err) {
    const flags = Object.keys(defaults).map((k) => `--${k}`).join(' ');
    fail(name, new Error(`${(err as Error).message.split('\n')[0]} (flags: ${flags})`));
  }
}

/** The flag `key` of `args` as a number; text that is no number ends the process through `fail`. */
export function numberFlag<K extends string>(name: string, args: Record<K, string>, key: K): number {
  const text = args[key];
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value)) fail(name, new Error(`--${key} must be a number (got ${JSON.stringify(text)})`));
  return value;
}

/** `--tls-cert FILE --tls-key FILE` (PEM): serve TLS; neither: plain TCP. */
export function tlsArgs(name: string, args: { 'tls-cert': string; 'tls-key': string }): { tls?: TlsServerOptions } {
  const cert = args['tls-cert'];
  const key = args['tls-key'];
  if (cert === '' && key === '') return {};
  if (cert === '' || key === '') fail(name, new Error('--tls-cert and --tls-key come together'));
  try {
    return { tls: { cert: fs.readFileSync(cert), key: fs.readFileSync(key) } };
  } catch (err) {
    fail(name, err);
  }
}

/**
 * run() (rotate() for several addresses) until a signal stops it; then the process exits.
 * `name` prefixes an error message; `handler`: a handler object, or a module (URL or path) as
 * run() takes it.
 */
export async function serve(name: string, handler: HandlerSpec, protoAddr: string | string[], options: Options): Promise<never> {
  const stop = new AbortController();
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.once(sig, () => {
      stop.abort();
      setTimeout(() => process.exit(1), 5000).unref();
    });
  }
  try {
    const withSignal = { ...options, signal: stop.signal };
    await (Array.isArray(protoAddr) ? rotate(handler, protoAddr, withSignal) : run(handler, protoAddr, withSignal));
    process.exit(0);
  } catch (err) {
    if (stop.signal.aborted) process.exit(0);
    fail(`${name} (${options.mode ?? 'auto'})`, err);
  }
}

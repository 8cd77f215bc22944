/**
 * What the example servers share around their handler: `--name value` arguments, and running
 * until SIGTERM/SIGINT (exit 0; exit 1 with a one-line reason when the server cannot start).
 */
import fs from 'node:fs';
import { run, type HandlerSpec, type Options, type TlsServerOptions } from '../host/index.js';

export function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : fallback;
}

/** `--tls-cert FILE --tls-key FILE` (PEM): serve TLS; neither: plain TCP. */
export function tlsArgs(): { tls?: TlsServerOptions } {
  const cert = arg('tls-cert', '');
  const key = arg('tls-key', '');
  if (cert === '' && key === '') return {};
  if (cert === '' || key === '') throw new Error('--tls-cert and --tls-key come together');
  return { tls: { cert: fs.readFileSync(cert), key: fs.readFileSync(key) } };
}

/**
 * run() until a signal stops it; then the process exits. `name` prefixes an error message;
 * `handler`: a handler object, or a module (URL or path) as run() takes it.
 */
export async function serve(name: string, handler: HandlerSpec, protoAddr: string, options: Options): Promise<never> {
  const stop = new AbortController();
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.once(sig, () => {
      stop.abort();
      setTimeout(() => process.exit(1), 5000).unref();
    });
  }
  try {
    await run(handler, protoAddr, { ...options, signal: stop.signal });
    process.exit(0);
  } catch (err) {
    if (stop.signal.aborted) process.exit(0);
    const e = err as Error & { code?: string };
    console.error(`${name} (${options.mode ?? 'auto'}): ${e.code ? `${e.code}: ` : ''}${e.message}`);
    process.exit(1);
  }
}

/**
 * `run` and `rotate`: pick the engine for the mode, bind, boot, and resolve when the engine has
 * fully shut down (gnet's blocking Run).
 */
import type { EventHandler, Options } from './api.js';
import { parseProtoAddr, resolveAddress, type ResolvedAddr } from './address.js';
import { resolveMode, nativeUnavailableReason } from './core/select.js';
import { invalidOption } from './errors.js';
import type { EngineBase } from './engine/base.js';
import { warnUnknownCallbacks } from './engine/invoke.js';
import { FallbackEngine } from './fallback/engine.js';
import { NativeEngine } from './native/engine.js';
import { resolveOptions, type ResolvedOptions } from './options.js';

/**
 * Serves `protoAddr` (e.g. `tcp://127.0.0.1:9000`, `udp://:9000`, `unix:///tmp/x.sock`; port 0
 * binds an ephemeral port) with `handler`; resolves once the engine has fully shut down
 * (gnet's blocking Run). Rejects on a bad address or option, or a failed bind.
 */
export function run<Ctx = unknown>(handler: EventHandler<Ctx>, protoAddr: string, options?: Options): Promise<void> {
  return rotate(handler, [protoAddr], options);
}

/** As `run`, serving several addresses with one engine (gnet's Rotate). */
export async function rotate<Ctx = unknown>(handler: EventHandler<Ctx>, protoAddrs: string[], options?: Options): Promise<void> {
  const engine = await startEngine(handler, protoAddrs, options);
  await engine.done;
}

/** Validates everything, binds and boots; the returned engine's `done` settles at shutdown. */
export async function startEngine(handler: EventHandler, protoAddrs: string[], options?: Options): Promise<EngineBase> {
  if (typeof handler !== 'object' || handler === null) throw invalidOption('handler', 'must be an object');
  if (!Array.isArray(protoAddrs) || protoAddrs.length === 0) throw invalidOption('protoAddrs', 'must be a non-empty array');
  const parsed = protoAddrs.map(parseProtoAddr);
  const resolvedOptions = resolveOptions(options, parsed.map((a) => a.network));
  const addrs: ResolvedAddr[] = await Promise.all(parsed.map(resolveAddress));
  const engine = createEngine(handler, resolvedOptions);
  await engine.start(addrs);
  return engine;
}

/** The engine of the mode the options ask for (ERR_NATIVE_UNAVAILABLE for an explicit 'native' that cannot load). */
export function createEngine(handler: EventHandler, resolvedOptions: ResolvedOptions): EngineBase {
  warnUnknownCallbacks(handler, resolvedOptions.logger);
  const mode = resolveMode(resolvedOptions.mode, (message) => resolvedOptions.logger.warn(message));
  if (resolvedOptions.mode === 'auto' && mode === 'wasm' && nativeUnavailableReason()) {
    resolvedOptions.logger.debug(`native library unavailable, using wasm: ${nativeUnavailableReason()}`);
  }
  return mode === 'native' ? new NativeEngine(handler, resolvedOptions) : new FallbackEngine(handler, resolvedOptions);
}

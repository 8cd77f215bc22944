/**
 * `run` and `rotate`: pick the engine for the mode, bind, boot, and resolve when the engine has
 * fully shut down (gnet's blocking Run).
 */
import type { EventHandler, Options } from './api.js';
import { parseProtoAddr, resolveAddress, type ResolvedAddr } from './address.js';
import { resolveMode, nativeUnavailableReason } from './core/select.js';
import { invalidOption } from './errors.js';
import type { EngineBase } from './engine/base.js';
import { resolveOptions, type ResolvedOptions } from './options.js';

export type EngineFactory = (handler: EventHandler, options: ResolvedOptions) => EngineBase;

/** Engines register themselves here (host/native and host/fallback), keeping run() free of both. */
export const engineFactories: { native?: EngineFactory; wasm?: EngineFactory } = {};

export function run(handler: EventHandler, protoAddr: string, options?: Options): Promise<void> {
  return rotate(handler, [protoAddr], options);
}

export async function rotate(handler: EventHandler, protoAddrs: string[], options?: Options): Promise<void> {
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
  const mode = resolveMode(resolvedOptions.mode);
  if (resolvedOptions.mode === 'auto' && mode === 'wasm' && nativeUnavailableReason()) {
    resolvedOptions.logger.debug(`native library unavailable, using wasm: ${nativeUnavailableReason()}`);
  }
  const factory = engineFactories[mode];
  if (!factory) throw new Error(`no ${mode} engine is registered`);
  return factory(handler, resolvedOptions);
}

/**
 * `run` and `rotate`: pick the engine for the mode, bind, boot, and resolve when the engine has
 * fully shut down (gnet's blocking Run).
 */
import type { EventHandler, Options } from './api.js';
import { parseProtoAddr, resolveAddress, type ResolvedAddr } from './address.js';
import { resolveMode, nativeUnavailableReason } from './core/select.js';
import { invalidOption, unsupportedOp } from './errors.js';
import type { EngineBase } from './engine/base.js';
import { warnUnknownCallbacks } from './engine/invoke.js';
import { FallbackEngine } from './fallback/engine.js';
import { isHandlerModule, loadHandlerModule, type HandlerSpec } from './multicore/handler-module.js';
import { ProcessEngine } from './multicore/process-engine.js';
import { ThreadEngine } from './multicore/thread-engine.js';
import { NativeEngine } from './native/engine.js';
import { nativeTlsAvailable } from './native/tls.js';
import { resolveOptions, type ResolvedOptions } from './options.js';

/**
 * Serves `protoAddr` (e.g. `tcp://127.0.0.1:9000`, `udp://:9000`, `unix:///tmp/x.sock`; port 0
 * binds an ephemeral port) with `handler` — an EventHandler, or a handler module (a URL or a
 * path whose default export is one, loaded by every process that runs a loop); resolves once
 * the engine has fully shut down (gnet's blocking Run). Rejects on a bad address or option, a
 * failed bind, or a handler module that cannot load.
 */
export function run<Ctx = unknown>(handler: HandlerSpec<Ctx>, protoAddr: string, options?: Options): Promise<void> {
  return rotate(handler, [protoAddr], options);
}

/** As `run`, serving several addresses with one engine (gnet's Rotate). */
export async function rotate<Ctx = unknown>(handler: HandlerSpec<Ctx>, protoAddrs: string[], options?: Options): Promise<void> {
  const engine = await startEngine(handler, protoAddrs, options);
  await engine.done;
  // The engine stopped because a loop's worker (process or thread) died.
  if (engine.failure) throw engine.failure;
}

/** Validates everything, loads a handler module, binds and boots; the returned engine's `done` settles at shutdown. */
export async function startEngine(handler: HandlerSpec, protoAddrs: string[], options?: Options): Promise<EngineBase> {
  if (!isHandlerModule(handler) && (typeof handler !== 'object' || handler === null)) {
    throw invalidOption('handler', 'must be an object, a URL or a module path');
  }
  if (!Array.isArray(protoAddrs) || protoAddrs.length === 0) throw invalidOption('protoAddrs', 'must be a non-empty array');
  const parsed = protoAddrs.map(parseProtoAddr);
  const resolvedOptions = resolveOptions(options, parsed.map((a) => a.network));
  const addrs: ResolvedAddr[] = await Promise.all(parsed.map(resolveAddress));
  let engine: EngineBase;
  if (isHandlerModule(handler)) {
    // This process's own instance: onBoot, onShutdown and onTick, and every callback when the loops run here.
    const loaded = await loadHandlerModule(handler, resolvedOptions.handlerData);
    engine = createEngine(loaded.handler, resolvedOptions, loaded.href);
  } else {
    if (resolvedOptions.numEventLoop > 1) hintHandlerModule(resolvedOptions);
    engine = createEngine(handler, resolvedOptions);
  }
  await engine.start(addrs);
  return engine;
}

let hinted = false;

/** Once per process: several loops of a plain object share this thread. */
function hintHandlerModule(resolvedOptions: ResolvedOptions): void {
  if (hinted) return;
  hinted = true;
  resolvedOptions.logger.info(
    `${resolvedOptions.numEventLoop} event loops on one thread: a handler object cannot cross threads or processes. ` +
      'Pass run() a handler module (a URL or path whose default export is the handler) to use several cores.',
  );
}

/**
 * The engine of the mode the options ask for (ERR_NATIVE_UNAVAILABLE for an explicit 'native'
 * that cannot load). `moduleHref`: the handler came from that module, which other threads and
 * processes can import: with several loops, native mode then runs each loop on a thread of its
 * own, wasm mode in a process of its own.
 */
export function createEngine(handler: EventHandler, resolvedOptions: ResolvedOptions, moduleHref?: string): EngineBase {
  warnUnknownCallbacks(handler, resolvedOptions.logger);
  const onCores = moduleHref !== undefined && resolvedOptions.numEventLoop > 1;
  if (resolvedOptions.tls !== undefined) return createTlsEngine(handler, resolvedOptions, moduleHref, onCores);
  const mode = resolveMode(resolvedOptions.mode, (message) => resolvedOptions.logger.warn(message));
  if (resolvedOptions.mode === 'auto' && mode === 'wasm' && nativeUnavailableReason()) {
    resolvedOptions.logger.debug(`native library unavailable, using wasm: ${nativeUnavailableReason()}`);
  }
  if (mode === 'native') return onCores ? new ThreadEngine(handler, resolvedOptions, moduleHref) : new NativeEngine(handler, resolvedOptions);
  if (onCores) return new ProcessEngine(handler, resolvedOptions, moduleHref);
  return new FallbackEngine(handler, resolvedOptions);
}

/**
 * A TLS server: native mode runs OpenSSL inside the Zig engine where this Node process has an
 * OpenSSL it can use (else `'auto'` serves on node:tls, in wasm mode, and an explicit
 * `'native'` is refused rather than served without TLS). A handler module on several loops
 * runs them on threads (native) or processes (wasm) as a plain server does (docs/tls.md).
 */
function createTlsEngine(handler: EventHandler, resolvedOptions: ResolvedOptions, moduleHref: string | undefined, onCores: boolean): EngineBase {
  const mode = resolveMode(resolvedOptions.mode, (message) => resolvedOptions.logger.warn(message));
  if (mode === 'native' && nativeTlsAvailable()) {
    return onCores ? new ThreadEngine(handler, resolvedOptions, moduleHref!) : new NativeEngine(handler, resolvedOptions);
  }
  if (resolvedOptions.mode === 'native') throw unsupportedOp('tls in native mode: this Node process has no OpenSSL the native engine can use');
  resolvedOptions.logger.debug('tls: serving in wasm mode (node:tls)');
  return onCores ? new ProcessEngine(handler, resolvedOptions, moduleHref!) : new FallbackEngine(handler, resolvedOptions);
}

/**
 * The messages between the main process and its worker processes (wasm mode, handler module,
 * several loops: host/multicore/process-engine.ts and process-worker.ts), and between the main
 * thread and its loops' threads (native mode: thread-engine.ts and thread-worker.ts). They travel
 * as structured clones (processes: the fork's IPC channel with 'advanced' serialization), so
 * handlerData may hold Maps, Dates, typed arrays...; an accepted socket travels to a process as
 * the handle of a 'conn' message (threads get theirs from the Zig engine).
 */
import type { EngineStats, Logger } from '../api.js';
import type { ResolvedOptions } from '../options.js';
import { resolveServerTls } from '../tls/options.js';

/**
 * The options a worker's engine needs: the resolved ones without what cannot be cloned. `tls`
 * is the user's `options.tls` as given (PEM texts): each worker checks it again and builds its
 * own node:tls server (processes) or serves the engine's OpenSSL context (threads).
 */
export type WorkerOptions = Omit<ResolvedOptions, 'logger' | 'signal' | 'handlerData' | 'tls'> & { tls: unknown };

export function workerOptions(options: ResolvedOptions): WorkerOptions {
  const { logger: _logger, signal: _signal, handlerData: _data, tls, ...clonable } = options;
  return { ...clonable, tls: tls?.input };
}

/**
 * A loop's engine options in its worker: a client engine (no listeners, onBoot's action
 * ignored; its ticker is the main side's), logging to the main side, and `options.tls`
 * checked again from what the main side was given.
 */
export function workerEngineOptions(options: WorkerOptions, logger: Logger, handlerData: unknown): ResolvedOptions {
  const tls = resolveServerTls(options.tls, ['tcp']);
  return { ...options, logger, signal: undefined, handlerData, client: true, ticker: false, tls };
}

/** A native loop's thread (host/multicore/thread-worker.ts) starts with this as its workerData. */
export interface ThreadInit {
  href: string;
  handlerData: unknown;
  options: WorkerOptions;
  index: number;
  /** The engine's listener addresses (what a TLS failure's log line names). */
  addrs: string[];
  /** The Zig engine's handle: every thread of the process sees the same engines. */
  engine: number;
  /** Open connections per loop, shared by every loop's thread (Atomics). */
  counts: SharedArrayBuffer;
  /** engine.stats()'s rows, one per loop, shared by every loop's thread (host/engine/stats.ts). */
  stats: SharedArrayBuffer;
}

export type ToWorker =
  | { t: 'init'; href: string; handlerData: unknown; options: WorkerOptions; index: number }
  /** An accepted socket (the message's handle) for the worker's loop. */
  | { t: 'conn'; network: 'tcp' | 'unix'; local: string; remote: string }
  /** Close this loop's connections (onClose each), then answer 'loopClosed'. */
  | { t: 'closeLoop' }
  /** Threads: every loop is attached and the engine started: poll. */
  | { t: 'go' }
  /** Shut the worker's engine down (every onClose, bytes flushed), answer 'stopped', exit. */
  | { t: 'stop' };

export type FromWorker =
  | { t: 'ready'; pid: number }
  | { t: 'failed'; message: string; code: string }
  /** A connection joined (+1) or left (-1) the worker's loop; the accepted ones' +1 is the main process's. */
  | { t: 'count'; delta: 1 | -1 }
  /** The worker's engine.stats() (its loop's counters), sent as they change and before 'stopped'. */
  | { t: 'stats'; stats: EngineStats }
  /** A callback returned Action.Shutdown. */
  | { t: 'shutdown' }
  /** A log line of the worker's engine, for the main process's logger (the user's, which cannot cross). */
  | { t: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; message: string }
  /** `count` more accepted TLS handshakes failed on the worker's loop (it logged them). */
  | { t: 'tlsFailures'; count: number }
  | { t: 'loopClosed' }
  | { t: 'stopped' };

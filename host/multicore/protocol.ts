/**
 * The messages between the main process and its worker processes (wasm mode, handler module,
 * several loops: host/multicore/process-engine.ts and process-worker.ts). They travel over the
 * fork's IPC channel with 'advanced' serialization (structured clone, so handlerData may hold
 * Maps, Dates, typed arrays...); an accepted socket travels as the handle of a 'conn' message.
 */
import type { ResolvedOptions } from '../options.js';

/** The options a worker's engine needs: the resolved ones without what cannot be cloned. */
export type WorkerOptions = Omit<ResolvedOptions, 'logger' | 'signal' | 'handlerData'>;

export type ToWorker =
  | { t: 'init'; href: string; handlerData: unknown; options: WorkerOptions; index: number }
  /** An accepted socket (the message's handle) for the worker's loop. */
  | { t: 'conn'; network: 'tcp' | 'unix'; local: string; remote: string }
  /** Close this loop's connections (onClose each), then answer 'loopClosed'. */
  | { t: 'closeLoop' }
  /** Shut the worker's engine down (every onClose, bytes flushed), answer 'stopped', exit. */
  | { t: 'stop' };

export type FromWorker =
  | { t: 'ready'; pid: number }
  | { t: 'failed'; message: string; code: string }
  /** A connection joined (+1) or left (-1) the worker's loop; the accepted ones' +1 is the main process's. */
  | { t: 'count'; delta: 1 | -1 }
  /** A callback returned Action.Shutdown. */
  | { t: 'shutdown' }
  /** A log line of the worker's engine, for the main process's logger (the user's, which cannot cross). */
  | { t: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; message: string }
  | { t: 'loopClosed' }
  | { t: 'stopped' };

/**
 * What every loop worker does the same way, a process (wasm mode: process-worker.ts) or a thread
 * (native mode: thread-worker.ts): it keeps only the connection callbacks of its module instance
 * (onBoot, onShutdown and onTick are the main side's), sends its log lines to the main side's
 * logger (the user's logger is a function and cannot cross), and reports a failed start.
 */
import { formatWithOptions } from 'node:util';
import type { EventHandler, Logger } from '../api.js';
import { ZgnetError } from '../errors.js';
import type { FromWorker } from './protocol.js';

type Send = (message: FromWorker, done?: () => void) => void;

const CONN_CALLBACKS = ['onOpen', 'onTraffic', 'onEnd', 'onClose', 'onWritable'] as const;

/** The instance's connection callbacks (keeping `this`), and nothing else. */
export function connectionHandler(instance: EventHandler): EventHandler {
  const handler: EventHandler = {};
  for (const name of CONN_CALLBACKS) {
    const fn = instance[name] as ((...args: unknown[]) => unknown) | undefined;
    if (typeof fn === 'function') (handler as Record<string, unknown>)[name] = (...args: unknown[]) => fn.apply(instance, args);
  }
  return handler;
}

/** A logger whose lines go to the main side's. */
export function forwardingLogger(send: Send): Logger {
  const forward =
    (level: Extract<FromWorker, { t: 'log' }>['level']) =>
    (message: string, ...rest: unknown[]) =>
      send({ t: 'log', level, message: rest.length === 0 ? message : formatWithOptions({ colors: false }, message, ...rest) });
  return { debug: forward('debug'), info: forward('info'), warn: forward('warn'), error: forward('error') };
}

/** The 'failed' message for an error of the worker's start (a module that cannot load, mostly). */
export function failedMessage(err: unknown): FromWorker {
  const code = err instanceof ZgnetError ? String(err.code) : 'ERR_HANDLER_MODULE';
  return { t: 'failed', message: (err as Error)?.message ?? String(err), code };
}

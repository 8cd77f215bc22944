/**
 * Calling user handlers the way gnet does, with Node's care: handlers are synchronous (a
 * returned Promise is not awaited: it is `None`, with a warning), any unknown return value is
 * `None`, and an exception never escapes into the engine.
 */
import { Action, type Logger } from '../api.js';

/** The Action a callback returned; anything else, including undefined, is None. */
export function toAction(value: unknown, logger: Logger, where: string): Action {
  if (value === Action.Close || value === Action.Shutdown) return value;
  if (value !== null && typeof value === 'object' && typeof (value as { then?: unknown }).then === 'function') {
    logger.warn(`${where} returned a Promise: handlers are synchronous, it is treated as Action.None`);
    // Keep an unhandled rejection from killing the process: the engine never awaits it.
    (value as Promise<unknown>).then(undefined, (err) => logger.error(`${where}: the returned Promise rejected`, err));
  }
  return Action.None;
}

export type Outcome = { action: Action; error: null } | { action: Action; error: Error };

/** Runs a callback; an exception becomes `{ error }` (logged), never a throw. */
export function invoke(logger: Logger, where: string, fn: () => unknown): Outcome {
  try {
    return { action: toAction(fn(), logger, where), error: null };
  } catch (thrown) {
    return { action: Action.Close, error: handlerError(logger, where, thrown) };
  }
}

/**
 * What a handler threw, as an Error (logged). For hot paths that call a handler inline
 * instead of through `invoke` (no closure or result object per call).
 */
export function handlerError(logger: Logger, where: string, thrown: unknown): Error {
  const error = thrown instanceof Error ? thrown : new Error(`${where} threw ${String(thrown)}`, { cause: thrown });
  logger.error(`${where} threw: ${error.message}`, error);
  return error;
}

/** The callbacks an EventHandler may have (host/api.ts). */
export const HANDLER_CALLBACKS: readonly string[] = ['onBoot', 'onShutdown', 'onOpen', 'onClose', 'onTraffic', 'onTick', 'onWritable', 'onEnd'];

/**
 * A handler method named like a callback that zgnet never calls (`onData`, `onMessage`) is
 * almost always a typo or another library's name: warn once, naming the known ones.
 */
export function warnUnknownCallbacks(handler: object, logger: Logger): void {
  const unknown = new Set<string>();
  for (let o: object | null = handler; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o) as object | null) {
    for (const name of Object.getOwnPropertyNames(o)) {
      const value = Object.getOwnPropertyDescriptor(o, name)?.value as unknown;
      if (/^on[A-Z]/.test(name) && typeof value === 'function' && !HANDLER_CALLBACKS.includes(name)) unknown.add(name);
    }
  }
  if (unknown.size === 0) return;
  const names = [...unknown].join(', ');
  logger.warn(`the handler's ${names} ${unknown.size === 1 ? 'is' : 'are'} never called: zgnet calls ${HANDLER_CALLBACKS.join(', ')}`);
}

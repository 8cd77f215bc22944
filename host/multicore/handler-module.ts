/**
 * Handler modules: `run()`/`rotate()` given a `URL` or a path instead of a handler object load
 * the module's default export — an `EventHandler` object, or a class constructed once per
 * process (or thread) as `new Handler(handlerData)`. Each process that serves connections
 * imports the module itself, so each has its own instance: that is what lets handlers run on
 * several cores, since a JavaScript function cannot cross to another process or thread.
 *
 * `handlerData()` (exported from 'zgnet') returns the `handlerData` option of the engine whose
 * module this process loaded last: in a worker process, its engine's data; in the main process,
 * the data of the latest `run()` given a module.
 */
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { EventHandler } from '../api.js';
import { ErrorCode, ZgnetError, invalidOption } from '../errors.js';
import type { NodeURL } from '../node-types.js';

/**
 * A handler as `run()` takes it: the handler object, or its module as a `file:` URL (`NodeURL`:
 * the WHATWG `URL`, typed without @types/node too) or a path.
 */
export type HandlerSpec<Ctx = unknown> = EventHandler<Ctx> | NodeURL | string;

export interface LoadedHandler {
  /** This process's instance. */
  readonly handler: EventHandler;
  /** The module's file: URL, what worker processes import. */
  readonly href: string;
}

let currentData: unknown;

/** The `handlerData` option of the engine whose handler module this process loaded (undefined when none). */
export function handlerData(): unknown {
  return currentData;
}

export function isHandlerModule(spec: HandlerSpec): spec is NodeURL | string {
  return typeof spec === 'string' || spec instanceof URL;
}

/** A path (relative to process.cwd()) or a URL as the file: URL `import()` takes. */
export function moduleHref(spec: NodeURL | string): string {
  if (spec instanceof URL) {
    if (spec.protocol !== 'file:') throw invalidOption('handler', `a handler module URL must be a file: URL (got ${spec.protocol})`);
    return spec.href;
  }
  if (spec === '') throw invalidOption('handler', 'must be an object, a URL or a non-empty module path');
  if (spec.startsWith('file:')) return new URL(spec).href;
  return pathToFileURL(path.resolve(process.cwd(), spec)).href;
}

/**
 * Imports the module and makes this process's instance. A module that cannot be found, throws
 * while importing or constructing, or whose default export is neither an object nor a class:
 * `ERR_HANDLER_MODULE` naming the module, with the original error as `cause`.
 */
export async function loadHandlerModule(spec: NodeURL | string, data: unknown): Promise<LoadedHandler> {
  const href = moduleHref(spec);
  const fail = (detail: string, cause?: unknown) =>
    new ZgnetError(ErrorCode.HANDLER_MODULE, `${href}: ${detail}`, cause === undefined ? undefined : { cause });
  currentData = data;
  let exported: unknown;
  try {
    exported = ((await import(href)) as { default?: unknown }).default;
  } catch (err) {
    throw fail(`cannot be imported (${(err as Error)?.message ?? String(err)})`, err);
  }
  if (typeof exported === 'function') {
    try {
      return { handler: new (exported as new (data: unknown) => EventHandler)(data), href };
    } catch (err) {
      throw fail(`its default export threw when constructed (${(err as Error)?.message ?? String(err)})`, err);
    }
  }
  if (typeof exported !== 'object' || exported === null) {
    throw fail(`its default export must be an EventHandler object or class (got ${exported === null ? 'null' : typeof exported})`);
  }
  return { handler: exported as EventHandler, href };
}

/**
 * Starting an engine for a test: `run()`/`rotate()` on the addresses given (port 0), in the
 * mode under test, with a recording logger; resolves with the engine and its bound addresses
 * as seen in onBoot. `shutdown()` is safe to call in every `finally`.
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { rotate, type Engine, type EventHandler, type Logger, type Options } from '../../host/index.js';
import { HANDLER_CALLBACKS } from '../../host/engine/invoke.js';
import { testMode } from './mode.js';
import { within } from './wait.js';

export interface LogEntry {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  rest: unknown[];
}

/** A logger that keeps what it is told (printed too when ZGNET_TEST_VERBOSE is set). */
export function recordingLogger(): Logger & { entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const verbose = Boolean(process.env.ZGNET_TEST_VERBOSE);
  const at = (level: LogEntry['level']) => (message: string, ...rest: unknown[]) => {
    entries.push({ level, message, rest });
    if (verbose) console.error(`[zgnet ${level}] ${message}`, ...rest);
  };
  return { entries, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export interface Server {
  engine: Engine;
  /** `engine.addrs` as read in onBoot. */
  addrs: string[];
  /** The promise `run()`/`rotate()` returned. */
  done: Promise<void>;
  logger: ReturnType<typeof recordingLogger>;
  /** Stops the engine if it still runs and waits for run() to settle; never throws for a stopped engine. */
  shutdown(): Promise<void>;
}

/** Every callback the engine calls but onBoot (wrapped below): a new one is delegated too. */
const CALLBACKS = HANDLER_CALLBACKS.filter((name) => name !== 'onBoot') as (keyof EventHandler)[];

/**
 * Runs `handler` on `protoAddrs` and resolves once onBoot ran. Rejects with run()'s error when
 * the engine cannot start. Options default to `{ mode: testMode, logger: recording }`.
 */
export async function startServer(handler: EventHandler, protoAddrs: string | string[], options: Options = {}): Promise<Server> {
  const logger = recordingLogger();
  let booted!: (engine: Engine) => void;
  const boot = new Promise<Engine>((resolve) => (booted = resolve));
  let addrs: string[] = [];
  // Delegate to the handler (keeping `this`), defining only the callbacks it has.
  const wrapped: EventHandler = {
    onBoot(engine) {
      addrs = [...engine.addrs];
      booted(engine);
      return handler.onBoot?.call(handler, engine);
    },
  };
  for (const name of CALLBACKS) {
    const fn = handler[name] as ((...args: unknown[]) => unknown) | undefined;
    if (typeof fn === 'function') (wrapped as Record<string, unknown>)[name] = (...args: unknown[]) => fn.apply(handler, args);
  }
  const list = Array.isArray(protoAddrs) ? protoAddrs : [protoAddrs];
  const done = rotate(wrapped, list, { mode: testMode, logger, ...options });
  const failed = done.then(
    () => {
      throw new Error('run() resolved before onBoot ran');
    },
    (err: unknown) => {
      throw err;
    },
  );
  failed.catch(() => {});
  const engine = await within(`starting ${list.join(', ')}`, 10_000, Promise.race([boot, failed]));
  const server: Server = {
    engine,
    addrs,
    done,
    logger,
    async shutdown() {
      try {
        await engine.stop();
      } catch {
        // Already stopped or stopping: run()'s promise tells the rest.
      }
      await within('run() settling after stop', 10_000, done.catch(() => {}));
    },
  };
  return server;
}

let socketCount = 0;
/** A fresh unix socket path under os.tmpdir(); the caller removes it (see `removePath`). */
export function unixPath(tag: string): string {
  socketCount += 1;
  return path.join(os.tmpdir(), `zgnet-${process.pid}-${socketCount}-${tag}.sock`);
}

export function removePath(p: string): void {
  fs.rmSync(p, { force: true });
}

/** Leaves a stale socket at `p`, as a server killed while listening does. */
export function staleUnixSocket(p: string): void {
  const script = `require('net').createServer().listen(${JSON.stringify(p)}, () => process.kill(process.pid, 'SIGKILL'))`;
  spawnSync(process.execPath, ['-e', script], { timeout: 10_000 });
  if (!fs.lstatSync(p).isSocket()) throw new Error(`no stale socket at ${p}`);
}

/** The listen addresses each transport is tested on. */
export const LOOPBACK = {
  tcp: 'tcp://127.0.0.1:0',
  tcp4: 'tcp4://127.0.0.1:0',
  tcp6: 'tcp6://[::1]:0',
  udp: 'udp://127.0.0.1:0',
  udp6: 'udp6://[::1]:0',
} as const;

/**
 * The main side of one loop's worker, a process (wasm mode) or a thread (native mode): messages
 * out, replies awaited with a bound, the worker's exit as a promise. What differs between a
 * process and a thread is only how a message travels and how the worker is killed (`Endpoint`).
 */
import type * as net from 'node:net';
import { FLUSH_ON_CLOSE_MS } from '../engine/conn.js';
import { ErrorCode, ZgnetError } from '../errors.js';
import type { FromWorker, ToWorker } from './protocol.js';

/** A worker asked to stop has flushed within FLUSH_ON_CLOSE_MS; past this it is killed. */
export const STOP_GRACE_MS = FLUSH_ON_CLOSE_MS + 2000;

/** How messages reach one worker, and how it ends. */
export interface Endpoint {
  /** "worker (pid 123)", "thread 4": names the worker in errors and logs. */
  readonly name: string;
  /** Sends `m` (with a socket: processes only); `done` gets the error when it could not be sent. */
  send(m: ToWorker, done: (err: Error | null) => void, handle?: net.Socket): void;
  /** Whether a message can still reach it. */
  canSend(): boolean;
  onMessage(listener: (m: FromWorker) => void): void;
  /** Once, when it has ended: its exit code, or the signal that killed it (processes). */
  onExit(listener: (code: number | null, signal: NodeJS.Signals | null) => void): void;
  kill(): void;
}

/** Flags of this process a worker must not inherit (the test runner's, a debugger's port). */
export function workerExecArgv(): string[] {
  return process.execArgv.filter((arg) => !/^--(test|watch|inspect)/.test(arg));
}

export class WorkerLink {
  /** Set once the main side asked it to go: its exit is not a failure. */
  leaving = false;
  ended = false;
  readonly exited: Promise<void>;
  private readonly replies = new Map<FromWorker['t'], () => void>();
  private exitCode: number | null = null;
  private exitSignal: NodeJS.Signals | null = null;

  constructor(
    readonly index: number,
    readonly endpoint: Endpoint,
    onMessage: (w: WorkerLink, m: FromWorker) => void,
    onExit: (w: WorkerLink) => void,
  ) {
    this.exited = new Promise((resolve) =>
      endpoint.onExit((code, signal) => {
        this.ended = true;
        this.exitCode = code;
        this.exitSignal = signal;
        for (const settle of [...this.replies.values()]) settle();
        onExit(this);
        resolve();
      }),
    );
    endpoint.onMessage((m) => {
      this.replies.get(m.t)?.();
      onMessage(this, m);
    });
  }

  /** Rejects with the worker's 'failed' message, or its exit, until it says 'ready'. */
  ready(): Promise<Extract<FromWorker, { t: 'ready' }>> {
    return new Promise((resolve, reject) => {
      this.endpoint.onMessage((m) => {
        if (m.t === 'ready') resolve(m);
        else if (m.t === 'failed') reject(new ZgnetError(m.code, m.message.replace(/^[^:]*: /, '')));
      });
      void this.exited.then(() => reject(this.exitError()));
    });
  }

  send(m: ToWorker, done: (err: Error | null) => void = () => {}, handle?: net.Socket): void {
    if (this.ended || !this.endpoint.canSend()) return done(new Error('the worker has gone'));
    this.endpoint.send(m, done, handle);
  }

  /**
   * Sends `m` and resolves when the worker answers `reply`, has exited, or after STOP_GRACE_MS
   * (a worker stuck in a handler: stop() kills it).
   */
  request(m: ToWorker, reply: FromWorker['t']): Promise<void> {
    if (this.ended || !this.endpoint.canSend()) return Promise.resolve();
    let resolve!: () => void;
    const answered = new Promise<void>((r) => (resolve = r));
    const settle = () => {
      clearTimeout(timer);
      this.replies.delete(reply);
      resolve();
    };
    const timer = setTimeout(settle, STOP_GRACE_MS);
    this.replies.set(reply, settle);
    this.endpoint.send(m, (err) => {
      if (err) settle();
    });
    return answered;
  }

  /** Asks it to shut its loop down (every onClose, bytes flushed); kills it past STOP_GRACE_MS. */
  async stop(): Promise<void> {
    this.leaving = true;
    const timer = setTimeout(() => this.kill(), STOP_GRACE_MS);
    await this.request({ t: 'stop' }, 'stopped'); // then it exits by itself
    await this.exited;
    clearTimeout(timer);
  }

  kill(): void {
    this.leaving = true;
    if (!this.ended) this.endpoint.kill();
  }

  exitError(): ZgnetError {
    const how = this.exitSignal !== null ? `signal ${this.exitSignal}` : `code ${this.exitCode}`;
    return new ZgnetError(ErrorCode.WORKER_EXITED, `loop ${this.index}'s ${this.endpoint.name} exited with ${how}`);
  }
}

/**
 * Wasm mode on several cores: a handler module with N event loops runs each loop in a worker
 * process of its own. Node 20 can neither share a listening socket between worker threads nor
 * set SO_REUSEPORT, but a process can receive a socket: this (main) process binds and accepts,
 * the wasm load balancer picks the loop as in one process (round-robin, least-connections over
 * the counts the workers report, source-addr-hash), and the socket is passed — before a byte is
 * read here (pauseOnConnect) — to that loop's worker, which serves it with its own instance of
 * the module (host/multicore/process-worker.ts).
 *
 * Engine-wide semantics: onBoot, onShutdown and onTick run once, here, on this process's own
 * instance; onOpen/onTraffic/onClose/onWritable run in the worker owning the connection, whose
 * `c.eventLoop.index` is its loop. UDP datagrams stay here, on loop 0. countConnections()
 * counts every worker's. stop(), an aborted signal, and Shutdown returned in any worker stop
 * every worker with gnet's order (that loop's connections first when it was a worker's
 * Shutdown, then onShutdown, then every other connection); each worker runs every onClose and
 * flushes its queued bytes (FLUSH_ON_CLOSE_MS at most) before it exits. A worker that dies
 * stops the engine with ERR_WORKER_EXITED (run() rejects with it); workers exit when this
 * process's IPC channel closes, so none outlives it.
 */
import { fork, type ChildProcess } from 'node:child_process';
import type net from 'node:net';
import { fileURLToPath } from 'node:url';
import type { EventHandler } from '../api.js';
import type { ResolvedAddr } from '../address.js';
import { FLUSH_ON_CLOSE_MS } from '../engine/conn.js';
import { ErrorCode, ZgnetError } from '../errors.js';
import { FallbackEngine } from '../fallback/engine.js';
import type { ResolvedOptions } from '../options.js';
import type { FromWorker, ToWorker, WorkerOptions } from './protocol.js';

const WORKER_ENTRY = fileURLToPath(new URL('./process-worker.js', import.meta.url));
/** A worker asked to stop has flushed within FLUSH_ON_CLOSE_MS; past this it is killed. */
const STOP_GRACE_MS = FLUSH_ON_CLOSE_MS + 2000;

/** Flags of this process a worker must not inherit (the test runner's, a debugger's port). */
function workerExecArgv(): string[] {
  return process.execArgv.filter((arg) => !/^--(test|watch|inspect)/.test(arg));
}

/** The environment without node:test's marker, which would make a worker report as a test file. */
function workerEnv(): NodeJS.ProcessEnv {
  const { NODE_TEST_CONTEXT: _testContext, ...env } = process.env;
  return env;
}

class WorkerProcess {
  readonly child: ChildProcess;
  /** This worker's open connections, as counted here (accepted ones from the moment they are passed). */
  count = 0;
  pid = 0;
  /** Set once this process asked it to go: its exit is not a failure. */
  leaving = false;
  readonly exited: Promise<void>;
  private readonly replies = new Map<FromWorker['t'], () => void>();

  constructor(
    readonly index: number,
    onMessage: (w: WorkerProcess, m: FromWorker) => void,
    onExit: (w: WorkerProcess, code: number | null, signal: NodeJS.Signals | null) => void,
  ) {
    this.child = fork(WORKER_ENTRY, [], { serialization: 'advanced', execArgv: workerExecArgv(), env: workerEnv() });
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => {
        for (const settle of [...this.replies.values()]) settle();
        onExit(this, code, signal);
        resolve();
      }),
    );
    this.child.on('message', (m: FromWorker) => {
      this.replies.get(m.t)?.();
      onMessage(this, m);
    });
    // A send to a worker that just died: its exit reports it.
    this.child.on('error', () => {});
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /**
   * Sends `m` and resolves when the worker answers `reply`, has exited, or after STOP_GRACE_MS
   * (a worker stuck in a handler: stop() kills it).
   */
  request(m: ToWorker, reply: FromWorker['t']): Promise<void> {
    if (!this.alive || !this.child.connected) return Promise.resolve();
    const settle = () => {
      clearTimeout(timer);
      this.replies.delete(reply);
      resolve();
    };
    let resolve!: () => void;
    const answered = new Promise<void>((r) => (resolve = r));
    const timer = setTimeout(settle, STOP_GRACE_MS);
    this.replies.set(reply, settle);
    this.child.send(m, (err) => {
      if (err) settle();
    });
    return answered;
  }

  /** Asks it to shut its engine down; kills it if that takes longer than STOP_GRACE_MS. */
  async stop(): Promise<void> {
    this.leaving = true;
    const timer = setTimeout(() => this.kill(), STOP_GRACE_MS);
    await this.request({ t: 'stop' }, 'stopped');
    await this.exited;
    clearTimeout(timer);
  }

  kill(): void {
    this.leaving = true;
    if (this.alive) this.child.kill('SIGKILL');
  }
}

export class ProcessEngine extends FallbackEngine {
  protected override readonly pauseOnConnect = true;
  private readonly workers: WorkerProcess[] = [];
  /** Why the engine stopped on its own (a worker died): run() rejects with it. */
  failure: ZgnetError | undefined;

  constructor(
    handler: EventHandler,
    options: ResolvedOptions,
    private readonly href: string,
  ) {
    super(handler, options);
  }

  /** The worker processes' pids, loop by loop (tests, diagnostics). */
  get workerPids(): number[] {
    return this.workers.map((w) => w.pid);
  }

  protected override async listen(addrs: ResolvedAddr[]): Promise<void> {
    await this.startWorkers();
    await super.listen(addrs);
  }

  /** Forks one worker per loop; each imports the module. The first failure rejects (the caller stops them all). */
  private async startWorkers(): Promise<void> {
    const { logger: _logger, signal: _signal, handlerData, ...options } = this.options;
    const clonable: WorkerOptions = options;
    const ready = this.loops.map((_, index) => {
      const w = new WorkerProcess(index, (w, m) => this.fromWorker(w, m), (w, code, signal) => this.workerExited(w, code, signal));
      this.workers.push(w);
      return new Promise<void>((resolve, reject) => {
        w.child.on('message', (m: FromWorker) => {
          if (m.t === 'ready') {
            w.pid = m.pid;
            resolve();
          } else if (m.t === 'failed') reject(new ZgnetError(m.code, m.message.replace(/^[^:]*: /, '')));
        });
        void w.exited.then(() => reject(exitError(w)));
        w.child.send({ t: 'init', href: this.href, handlerData, options: clonable, index } satisfies ToWorker);
      });
    });
    await Promise.all(ready);
  }

  private fromWorker(w: WorkerProcess, m: FromWorker): void {
    if (m.t === 'count') {
      w.count += m.delta;
      this.loopCountChanged(w.index, m.delta);
    } else if (m.t === 'shutdown') {
      void this.shutdown('action', w.index);
    } else if (m.t === 'log') {
      this.logger[m.level](`loop ${w.index} (pid ${w.pid}): ${m.message}`);
    }
  }

  private workerExited(w: WorkerProcess, code: number | null, signal: NodeJS.Signals | null): void {
    // Its connections died with it.
    for (; w.count > 0; w.count--) this.loopCountChanged(w.index, -1);
    if (w.leaving || this.state !== 'running') return;
    this.failure = exitError(w, code, signal);
    this.logger.error(`${this.failure.message}: stopping the engine`);
    void this.shutdown('stop');
  }

  /** Passes the accepted socket to the loop's worker; counted from now, so least-connections sees a burst. */
  protected override place(index: number, socket: net.Socket, network: 'tcp' | 'unix', local: string, remote: string): void {
    const w = this.workers[index]!;
    w.count++;
    this.loopCountChanged(index, 1);
    const undo = (err: Error) => {
      socket.destroy();
      w.count--;
      this.loopCountChanged(index, -1);
      if (w.alive) this.logger.warn(`passing a connection to loop ${index} failed: ${err.message}`);
    };
    if (!w.child.connected) return undo(new Error('the worker has gone'));
    // Node tracks a server's sockets sent to a child and waits for that child when the server
    // closes — forever once the child has exited (Node 20). The worker reports its connections
    // itself: untracked, the server counts this one as gone once its emptied socket is destroyed.
    (socket as unknown as { server: net.Server | null }).server = null;
    w.child.send({ t: 'conn', network, local, remote } satisfies ToWorker, socket, { keepOpen: false }, (err) => {
      if (err) undo(err);
      else socket.destroy(); // the handle is the worker's now: this releases only the server's count
    });
  }

  protected override async closeConnections(loopIndex?: number): Promise<void> {
    await super.closeConnections(loopIndex); // this process's own: UDP on loop 0
    if (loopIndex !== undefined) await this.workers[loopIndex]?.request({ t: 'closeLoop' }, 'loopClosed');
    else await Promise.all(this.workers.map((w) => w.stop()));
  }

  protected override async closeListeners(): Promise<void> {
    await super.closeListeners();
    // Workers already stopped in closeConnections; these are a failed start's.
    for (const w of this.workers) w.kill();
    await Promise.all(this.workers.map((w) => w.exited));
  }
}

function exitError(w: WorkerProcess, code: number | null = w.child.exitCode, signal: NodeJS.Signals | null = w.child.signalCode): ZgnetError {
  const how = signal !== null ? `signal ${signal}` : `code ${code}`;
  return new ZgnetError(ErrorCode.WORKER_EXITED, `loop ${w.index}'s worker (pid ${w.child.pid}) exited with ${how}`);
}

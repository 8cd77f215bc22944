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
import type * as net from 'node:net';
import * as path from 'node:path';
import type { EventHandler } from '../api.js';
import type { ResolvedAddr } from '../address.js';
import { moduleDir } from '../core/module-file.js';
import { FallbackEngine } from '../fallback/engine.js';
import type { ResolvedOptions } from '../options.js';
import type { FromWorker, ToWorker } from './protocol.js';
import { workerOptions } from './protocol.js';
import { WorkerLink, workerExecArgv, type Endpoint } from './worker-link.js';

const WORKER_ENTRY = path.join(moduleDir(import.meta.url), 'process-worker.js');

/** The environment without node:test's marker, which would make a worker report as a test file. */
function workerEnv(): NodeJS.ProcessEnv {
  const { NODE_TEST_CONTEXT: _testContext, ...env } = process.env;
  return env;
}

/** A forked worker process as a WorkerLink endpoint. */
function processEndpoint(child: ChildProcess): Endpoint {
  // A send to a worker that just died: its exit reports it.
  child.on('error', () => {});
  return {
    name: `worker (pid ${child.pid})`,
    send: (m, done, handle) =>
      void (handle === undefined ? child.send(m, (err) => done(err ?? null)) : child.send(m, handle, { keepOpen: false }, (err) => done(err ?? null))),
    canSend: () => child.connected,
    onMessage: (listener) => void child.on('message', listener),
    onExit: (listener) => void child.once('exit', listener),
    kill: () => void child.kill('SIGKILL'),
  };
}

export class ProcessEngine extends FallbackEngine {
  protected override readonly pauseOnConnect = true;
  /** A TLS server's handshakes run in the workers (node:tls there): the sockets are passed before it. */
  protected override get listenerTls(): undefined {
    return undefined;
  }
  private readonly workers: WorkerLink[] = [];
  /** Each worker's open connections, as counted here (accepted ones from the moment they are passed). */
  private readonly counts: number[] = [];

  constructor(
    handler: EventHandler,
    options: ResolvedOptions,
    private readonly href: string,
  ) {
    super(handler, options);
  }

  protected override async listen(addrs: ResolvedAddr[]): Promise<void> {
    await this.startWorkers();
    await super.listen(addrs);
  }

  /** Forks one worker per loop; each imports the module. The first failure rejects (the caller stops them all). */
  private async startWorkers(): Promise<void> {
    const { handlerData } = this.options;
    const ready = this.loops.map((_, index) => {
      const child = fork(WORKER_ENTRY, [], { serialization: 'advanced', execArgv: workerExecArgv(), env: workerEnv() });
      const w = new WorkerLink(index, processEndpoint(child), (w, m) => this.fromWorker(w, m), (w) => this.workerExited(w));
      this.workers.push(w);
      this.counts.push(0);
      const answered = w.ready();
      w.send({ t: 'init', href: this.href, handlerData, options: workerOptions(this.options), index } satisfies ToWorker);
      return answered;
    });
    await Promise.all(ready);
  }

  private fromWorker(w: WorkerLink, m: FromWorker): void {
    if (m.t === 'count') {
      this.counts[w.index]! += m.delta;
      this.loopCountChanged(w.index, m.delta);
    } else if (m.t === 'stats') {
      this.counters.report(w.index, m.stats);
    } else if (m.t === 'shutdown') {
      void this.shutdown('action', w.index);
    } else if (m.t === 'log') {
      this.logger[m.level](`loop ${w.index} (${w.endpoint.name}): ${m.message}`);
    } else if (m.t === 'tlsFailures') {
      this.handshakeFailures.reported(m.count);
    }
  }

  private workerExited(w: WorkerLink): void {
    // Its connections died with it.
    for (; this.counts[w.index]! > 0; this.counts[w.index]!--) this.loopCountChanged(w.index, -1);
    if (w.leaving || this.state !== 'running') return;
    this.fail(w.exitError());
  }

  /** Passes the accepted socket to the loop's worker; counted from now, so least-connections sees a burst. */
  protected override place(index: number, socket: net.Socket, network: 'tcp' | 'unix', local: string, remote: string): void {
    const w = this.workers[index]!;
    this.counts[index]!++;
    this.loopCountChanged(index, 1);
    const undo = (err: Error) => {
      socket.destroy();
      this.counts[index]!--;
      this.loopCountChanged(index, -1);
      if (!w.ended) this.logger.warn(`passing a connection to loop ${index} failed: ${err.message}`);
    };
    // Node tracks a server's sockets sent to a child and waits for that child when the server
    // closes — forever once the child has exited (Node 20). The worker reports its connections
    // itself: untracked, the server counts this one as gone once its emptied socket is destroyed.
    (socket as unknown as { server: net.Server | null }).server = null;
    w.send({ t: 'conn', network, local, remote } satisfies ToWorker, (err) => {
      if (err) undo(err);
      else socket.destroy(); // the handle is the worker's now: this releases only the server's count
    }, socket);
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

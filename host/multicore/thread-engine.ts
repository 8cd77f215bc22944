/**
 * Native mode on several cores: a handler module with N event loops runs each loop on a worker
 * thread of its own, as gnet runs each loop on a goroutine of its own. This (main) thread makes
 * the Zig engine and binds its listeners; each loop's thread imports the module (its own
 * instance), attaches its loop's memory and watches that loop's poller with its own libuv loop
 * (host/multicore/thread-worker.ts): drain, handlers, flush — the batch design of one thread,
 * N times over. The Zig engine is shared: in main-reactor mode loop 0 accepts and the load
 * balancer places each connection on a loop, handed over through that loop's inbox and a wake
 * of its poller (zig-src/engine/event_loop.zig); in reuse-port mode every loop accepts on its
 * own SO_REUSEPORT listener and nothing is handed over.
 *
 * Engine-wide semantics (as the process engine's, host/multicore/process-engine.ts): onBoot,
 * onShutdown and onTick run once, here, on this thread's instance; onOpen/onTraffic/onClose/
 * onWritable on the thread of the connection's loop (`c.eventLoop.index`), where its execute,
 * register and enroll stay. countConnections() sums every loop's count (shared memory).
 * stop(), an aborted signal, and Shutdown returned on any thread stop every loop with gnet's
 * order; each thread runs every onClose and flushes its queued bytes (FLUSH_ON_CLOSE_MS at
 * most) before it ends, and the engine's sockets close here once every thread has ended. A
 * thread that dies stops the engine with ERR_WORKER_EXITED (run() rejects with it).
 */
import { setTimeout as delay } from 'node:timers/promises';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { EventHandler } from '../api.js';
import type { ResolvedAddr } from '../address.js';
import { moduleDir } from '../core/module-file.js';
import { ErrorCode, ZgnetError } from '../errors.js';
import { NativeEngine } from '../native/engine.js';
import type { ResolvedOptions } from '../options.js';
import { workerOptions, type FromWorker, type ThreadInit } from './protocol.js';
import { STOP_GRACE_MS, WorkerLink, workerExecArgv, type Endpoint } from './worker-link.js';

const THREAD_ENTRY = path.join(moduleDir(import.meta.url), 'thread-worker.js');

/** A worker thread as a WorkerLink endpoint. */
function threadEndpoint(worker: Worker, onError: (err: Error) => void): Endpoint {
  // An exception that escaped the thread (handler exceptions are caught before): it ends.
  worker.on('error', onError);
  return {
    name: `thread ${worker.threadId}`,
    send: (m, done) => {
      worker.postMessage(m);
      done(null);
    },
    canSend: () => true,
    onMessage: (listener) => void worker.on('message', listener),
    onExit: (listener) => void worker.once('exit', (code) => listener(code, null)),
    kill: () => void worker.terminate(),
  };
}

export class ThreadEngine extends NativeEngine {
  private readonly workers: WorkerLink[] = [];

  constructor(
    handler: EventHandler,
    options: ResolvedOptions,
    private readonly href: string,
  ) {
    super(handler, options);
  }

  /** The engine and its listeners, then one thread per loop, each with its loop attached. */
  protected override async listen(addrs: ResolvedAddr[]): Promise<void> {
    await super.listen(addrs);
    const ready = [];
    for (let index = 0; index < this.options.numEventLoop; index++) {
      const init: ThreadInit = {
        href: this.href,
        handlerData: this.options.handlerData,
        options: workerOptions(this.options),
        index,
        addrs: this.listenerAddrs,
        engine: this.handle,
        counts: this.counts.buffer as SharedArrayBuffer,
        stats: this.counters.cells.buffer as SharedArrayBuffer,
      };
      const worker = new Worker(THREAD_ENTRY, { workerData: init, execArgv: workerExecArgv() });
      const endpoint = threadEndpoint(worker, (err) => this.logger.error(`loop ${index}'s thread failed`, err));
      const w = new WorkerLink(index, endpoint, (w, m) => this.fromWorker(w, m), (w) => this.workerExited(w));
      this.workers.push(w);
      ready.push(w.ready());
    }
    // A thread ended while it still loads modules leaves their files open: the first failure
    // is reported once every thread has settled (or STOP_GRACE_MS has passed).
    const settled = await Promise.race([Promise.allSettled(ready), delay(STOP_GRACE_MS, null, { ref: false })]);
    const failed = settled?.find((r) => r.status === 'rejected');
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
    if (settled === null) throw new ZgnetError(ErrorCode.HANDLER_MODULE, `${this.href}: the loops' threads did not start within ${STOP_GRACE_MS} ms`);
  }

  protected override startLoops(): void {
    this.check(this.api.zg_engine_start(this.handle));
    for (const w of this.workers) w.send({ t: 'go' });
  }

  private fromWorker(w: WorkerLink, m: FromWorker): void {
    if (m.t === 'shutdown') void this.shutdown('action', w.index);
    else if (m.t === 'log') this.logger[m.level](`loop ${w.index} (${w.endpoint.name}): ${m.message}`);
    else if (m.t === 'tlsFailures') this.handshakeFailures.reported(m.count);
  }

  private workerExited(w: WorkerLink): void {
    // Its connections are gone for its handlers; their sockets close when the engine is freed.
    Atomics.store(this.counts, w.index, 0);
    if (w.leaving || this.state !== 'running') return;
    this.fail(w.exitError());
  }

  protected override async closeConnections(loopIndex?: number): Promise<void> {
    if (loopIndex !== undefined) await this.workers[loopIndex]?.request({ t: 'closeLoop' }, 'loopClosed');
    else await Promise.all(this.workers.map((w) => w.stop()));
  }

  /** Once no thread drives a loop any more, the engine (every socket it still has) is freed. */
  protected override async closeListeners(): Promise<void> {
    for (const w of this.workers) w.kill();
    await Promise.all(this.workers.map((w) => w.exited));
    this.freeEngine();
  }
}

/**
 * A loop's thread of the thread engine (host/multicore/thread-engine.ts): it imports the handler
 * module itself (its own instance), attaches its loop of the shared Zig engine and, once told
 * to go, watches that loop's poller with this thread's libuv loop. It runs as a client engine
 * does (no listeners of its own, no onBoot, onShutdown or onTick: those are the main thread's).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { NativeEngine } from '../native/engine.js';
import { NativeLoop } from '../native/event-loop.js';
import { StatsBook } from '../engine/stats.js';
import { leveledLogger } from '../options.js';
import { loadHandlerModule } from './handler-module.js';
import { workerEngineOptions, type FromWorker, type ThreadInit, type ToWorker } from './protocol.js';
import { connectionHandler, failedMessage, forwardingLogger } from './worker-side.js';

const init = workerData as ThreadInit;
const port = parentPort!;

function send(message: FromWorker, done?: () => void): void {
  port.postMessage(message);
  done?.();
}

class LoopThreadEngine extends NativeEngine {
  override counts = new Int32Array(init.counts);

  constructor(...args: ConstructorParameters<typeof NativeEngine>) {
    super(...args);
    // Handshakes failed on this loop are logged here, and counted by the main thread too.
    this.handshakeFailures.onCounted = (count) => send({ t: 'tlsFailures', count });
  }

  /** This loop's row is the main thread's (shared memory): its engine.stats() sees it at once. */
  protected override makeStatsBook(loopCount: number): StatsBook {
    return new StatsBook(loopCount, init.stats);
  }

  /** Nothing to bind: the engine is the main thread's. */
  protected override async listen(): Promise<void> {
    this.handle = init.engine;
    this.listenerAddrs = init.addrs;
  }

  /** Attaches this thread's loop; polling waits for 'go' (the engine starts once every loop is attached). */
  protected override startLoops(): void {
    this.loops.push(new NativeLoop(this, init.index, this.options.readBufferCap));
  }

  go(): void {
    for (const loop of this.loops) loop.startPolling();
    this.reapHandshakesOnTime();
  }


  closeLoop(): Promise<void> {
    return this.closeConnections(init.index);
  }

  /** The loop stops here; the engine itself is freed by the main thread once every thread has ended. */
  protected override async closeListeners(): Promise<void> {
    await this.finishLoops();
    this.freed = true;
  }

  override shutdownFromLoop(): void {
    send({ t: 'shutdown' }); // the main thread runs gnet's shutdown order for every loop
  }
}

let engine: LoopThreadEngine | undefined;

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'go':
      engine?.go();
      break;
    case 'closeLoop':
      void (engine?.closeLoop() ?? Promise.resolve()).then(() => send({ t: 'loopClosed' }));
      break;
    case 'stop':
      // Outside koffi's poll callback (a message's turn), so ending the thread here is safe.
      void (engine?.shutdown('stop') ?? Promise.resolve()).then(() => send({ t: 'stopped' }, () => process.exit(0)));
      break;
  }
});

try {
  const { handler } = await loadHandlerModule(init.href, init.handlerData);
  const logger = leveledLogger(forwardingLogger(send), init.options.logLevel);
  // A TLS server's loop: the engine's OpenSSL context is the main thread's (one SSL_CTX for
  // every loop, zig-src/engine/tls_context.zig); this thread runs its connections' sessions.
  engine = new LoopThreadEngine(connectionHandler(handler), workerEngineOptions(init.options, logger, init.handlerData));
  await engine.start([]);
  send({ t: 'ready', pid: process.pid });
} catch (err) {
  send(failedMessage(err));
}

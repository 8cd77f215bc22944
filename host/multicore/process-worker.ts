/**
 * A worker process of the process engine (host/multicore/process-engine.ts): it imports the
 * handler module itself (its own instance), runs a listener-less fallback engine — as a Client
 * does — and serves on its loop the sockets the main process accepted and passed over IPC.
 * onBoot, onShutdown and onTick are the main process's: only the connection callbacks run here.
 */
import type * as net from 'node:net';
import type * as tls from 'node:tls';
import { FallbackEngine } from '../fallback/engine.js';
import { streamSocketOptions } from '../fallback/listener.js';
import { dropHandshakes, tlsServer } from '../fallback/tls-listener.js';
import type { ServerTls } from '../tls/options.js';
import { leveledLogger } from '../options.js';
import { loadHandlerModule } from './handler-module.js';
import { workerEngineOptions, type FromWorker, type ToWorker } from './protocol.js';
import { connectionHandler, failedMessage, forwardingLogger } from './worker-side.js';

type PassedConn = Extract<ToWorker, { t: 'conn' }>;

/** Without the main process there is nothing to serve: a worker never outlives its IPC channel. */
process.on('disconnect', () => process.exit(0));
// The main process stops its workers (every onClose, bytes flushed): a Ctrl-C or a SIGTERM to the
// whole process group must not kill them under it.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});

/** How often a loop with connections reports its counters to the main process. */
const STATS_REPORT_MS = 100;

function send(message: FromWorker, done?: () => void): void {
  if (process.connected) process.send!(message, undefined, {}, () => done?.());
  else done?.();
}

class WorkerEngine extends FallbackEngine {
  /** While opening a passed socket: its +1 was counted by the main process when it passed it. */
  private passing = false;

  constructor(...args: ConstructorParameters<typeof FallbackEngine>) {
    super(...args);
    // Handshakes failed here are logged here, and counted by the main process too.
    this.handshakeFailures.onCounted = (count) => send({ t: 'tlsFailures', count });
  }

  override loopCountChanged(index: number, delta: 1 | -1): void {
    super.loopCountChanged(index, delta);
    if (!(this.passing && delta === 1)) send({ t: 'count', delta });
    this.reportStats();
  }

  private statsTimer: NodeJS.Timeout | undefined;

  /**
   * Sends this loop's counters to the main process (its engine.stats()) soon: bytes flow between
   * opens and closes, so while the loop has connections it reports every STATS_REPORT_MS.
   */
  reportStats(): void {
    if (this.statsTimer !== undefined) return;
    this.statsTimer = setTimeout(() => {
      this.statsTimer = undefined;
      this.sendStats();
      if (this.countConnections() > 0) this.reportStats();
    }, STATS_REPORT_MS);
    this.statsTimer.unref();
  }

  sendStats(done?: () => void): void {
    send({ t: 'stats', stats: this.stats() }, done);
  }

  override shutdownFromLoop(): void {
    send({ t: 'shutdown' }); // the main process runs gnet's shutdown order for every loop
  }

  /** A TLS server's handshakes, on this process's node:tls (not listening: passed sockets are handed to it). */
  private tlsAcceptor: tls.Server | undefined;
  /** Each passed socket still in its handshake: its loop, and what the main process said of it. */
  private readonly handshaking = new WeakMap<net.Socket, { index: number; m: PassedConn }>();

  serve(index: number, socket: net.Socket, m: PassedConn): void {
    if (!this.isRunning()) {
      socket.destroy();
      send({ t: 'count', delta: -1 });
      return;
    }
    if (this.options.tls !== undefined) return this.handshake(index, socket, m, this.options.tls);
    this.open(index, socket, m);
  }

  /** The socket opens once node:tls finished its handshake; a failure is counted, logged, and uncounted from the loop. */
  private handshake(index: number, socket: net.Socket, m: PassedConn, config: ServerTls): void {
    this.tlsAcceptor ??= this.makeTlsAcceptor(config);
    // As a listener's accepted sockets are: the engine ends them itself, after onClose.
    socket.allowHalfOpen = true;
    this.handshaking.set(socket, { index, m });
    this.tlsAcceptor.emit('connection', socket);
  }

  private makeTlsAcceptor(config: ServerTls): tls.Server {
    type Secure = tls.TLSSocket & { _parent?: net.Socket };
    const settled = (secure: Secure) => {
      const passed = secure._parent ? this.handshaking.get(secure._parent) : undefined;
      if (passed !== undefined) this.handshaking.delete(secure._parent!);
      return passed;
    };
    const acceptor = tlsServer(config, streamSocketOptions(this.options));
    acceptor.on('secureConnection', (secure: Secure) => {
      const passed = settled(secure);
      if (passed !== undefined && this.isRunning()) return this.open(passed.index, secure, passed.m);
      secure.destroy();
      if (passed !== undefined) send({ t: 'count', delta: -1 });
    });
    acceptor.on('tlsClientError', (err: Error, secure: Secure) => {
      const passed = settled(secure);
      if (passed === undefined) return;
      this.handshakeFailed(passed.m.local, err, secure);
      send({ t: 'count', delta: -1 });
    });
    return acceptor;
  }

  /** Drops the handshakes still in progress (they never reached a handler), then stops. */
  protected override async closeConnections(loopIndex?: number): Promise<void> {
    if (this.tlsAcceptor !== undefined) dropHandshakes(this.tlsAcceptor);
    return super.closeConnections(loopIndex);
  }

  private open(index: number, socket: net.Socket, m: PassedConn): void {
    this.passing = true;
    try {
      this.openAccepted(this.loops[index]!, socket, m.network, m.local, m.remote);
    } catch (err) {
      this.logger.error('opening a passed connection failed', err);
      socket.destroy();
      send({ t: 'count', delta: -1 });
    } finally {
      this.passing = false;
    }
  }
}

let engine: WorkerEngine | undefined;
let index = 0;

process.on('message', (m: ToWorker, handle?: net.Socket) => {
  switch (m.t) {
    case 'init':
      index = m.index;
      void init(m);
      break;
    case 'conn':
      if (handle === undefined) return;
      if (engine === undefined) handle.destroy();
      else engine.serve(index, handle, m);
      break;
    case 'closeLoop':
      engine?.loops[index]?.closeAll();
      send({ t: 'loopClosed' });
      break;
    case 'stop':
      void (engine?.shutdown('stop') ?? Promise.resolve()).then(() => {
        engine?.sendStats();
        send({ t: 'stopped' }, () => process.exit(0));
      });
      break;
  }
});

async function init(m: Extract<ToWorker, { t: 'init' }>): Promise<void> {
  try {
    const { handler } = await loadHandlerModule(m.href, m.handlerData);
    const logger = leveledLogger(forwardingLogger(send), m.options.logLevel);
    engine = new WorkerEngine(connectionHandler(handler), workerEngineOptions(m.options, logger, m.handlerData));
    await engine.start([]);
    send({ t: 'ready', pid: process.pid });
  } catch (err) {
    send(failedMessage(err), () => process.exit(1));
  }
}

/**
 * The fallback engine ('wasm' mode): node:net and node:dgram sockets behind gnet's engine,
 * with the Zig core compiled to wasm doing what is not I/O — each connection's unconsumed
 * inbound bytes live in a wasm elastic ring, codecs decode from it, and the wasm load balancer
 * assigns connections to the logical event loops. The lifecycle (bind, onBoot, ticker,
 * shutdown order) is EngineBase's.
 *
 * WHERE NODE HIDES WHAT GNET OFFERS (docs/modes.md's table comes from this list):
 *
 *   what                              | wasm mode
 *   ----------------------------------|------------------------------------------------------
 *   multicore, numEventLoop           | a handler object: logical loops (index, load balancing,
 *                                     |   per-loop counts and task queues) on Node's one thread;
 *                                     |   a handler module: one worker process per loop
 *                                     |   (host/multicore/process-engine.ts)
 *   Conn.fd, Conn.dup()               | throws ERR_UNSUPPORTED_OP (Node hides the fd)
 *   engine.dup(), engine.dupListener()| throws ERR_UNSUPPORTED_OP (dupListener with no matching
 *                                     |   listener: ERR_INVALID_NETWORK_ADDRESS, as gnet)
 *   Conn.setLinger(sec)               | throws ERR_UNSUPPORTED_OP (no SO_LINGER in Node)
 *   Conn.setReadBuffer/setWriteBuffer | TCP/Unix: throws ERR_UNSUPPORTED_OP (no SO_RCVBUF/SO_SNDBUF
 *                                     |   for net sockets); UDP: works (dgram)
 *   Conn.setKeepAlive(on, idle, intvl,| TCP: SO_KEEPALIVE + idle applied; interval and count are
 *     count), setKeepAlivePeriod      |   validated but not applied (Node 20 cannot set them)
 *   tcpKeepIntervalMs, tcpKeepCount   | ignored (same reason); tcpKeepAliveMs works
 *   socketRecvBuffer/socketSendBuffer | TCP/Unix listeners: ignored; UDP: applied
 *   edgeTriggeredIO(+Chunk)           | ignored (Node does the reading; native mode only)
 *   reusePort                         | ignored: Node 20 has no SO_REUSEPORT, so there is one
 *                                     |   listener per address and every TCP/Unix connection is
 *                                     |   assigned by the load balancer (gnet skips the balancer
 *                                     |   in reuse-port mode); UDP datagrams all go to loop 0
 *   reuseAddr                         | UDP: applied; TCP: always on (libuv sets SO_REUSEADDR)
 *   bindToDevice (non-empty)          | run() rejects ERR_UNSUPPORTED_OP (as gnet off Linux)
 *   multicastInterfaceIndex           | joins on the interface with that index, looked up in
 *                                     |   /sys/class/net (dgram names interfaces by address):
 *                                     |   Linux only; elsewhere a non-zero index fails ENODEV
 *   accept errors (EMFILE, ...)       | logged, the engine keeps running (gnet stops with
 *                                     |   ERR_ACCEPT_SOCKET)
 *   a failing write                   | Node reports it asynchronously: the connection closes
 *                                     |   on the next turn with Node's error (gnet: inside write)
 *   flush()                           | no-op: Node writes queued bytes as soon as it can
 *   EventLoop.enroll, Client.enroll   | the engine takes the Node socket over (gnet dups the fd
 *                                     |   and closes the original): the caller must not use it
 *   a dialled/enrolled socket's buffer| TCP/Unix: socketRecvBuffer/socketSendBuffer ignored (as
 *     sizes                           |   for listeners); UDP: applied to dialled sockets
 */
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { Conn, EventHandler, Network } from '../api.js';
import { formatAddr, hostPort, type ResolvedAddr } from '../address.js';
import { check, LbPolicy, type CoreBinding } from '../core/binding.js';
import { bindingFor } from '../core/select.js';
import { abortError, EngineBase, findListener } from '../engine/base.js';
import { FLUSH_ON_CLOSE_MS } from '../engine/conn.js';
import { cutOffWithoutProgress } from './flush-bound.js';
import { RateLimitedLog } from '../engine/limits.js';
import { inShutdown, type Adoptable } from '../engine/dial.js';
import { ErrorCode, fromNodeError, ZgnetError } from '../errors.js';
import type { ResolvedOptions } from '../options.js';
import { ConnectedUdpConn } from './connected-udp.js';
import { StreamConn, type NodeConn, type NodeConnOwner } from './connection.js';
import { unsupported } from './errors.js';
import { FallbackEventLoop, type LoopOwner } from './event-loop.js';
import { closeListener, listenDatagram, listenStream, type Listener, type StreamListener } from './listener.js';
import { UdpEndpoint } from './udp.js';
import { TlsStreamConn } from './tls-conn.js';
import { dialTlsSocket } from './tls-dial.js';
import { handshakeError, isTlsFailure } from '../tls/session.js';
import { tlsConfigError, type DialTls, type ServerTls } from '../tls/options.js';
import { HandshakeFailures } from '../tls/failures.js';

export class FallbackEngine extends EngineBase implements NodeConnOwner, LoopOwner {
  readonly mode = 'wasm' as const;
  readonly binding: CoreBinding = bindingFor('wasm');
  readonly readBufferCap: number;
  readonly loops: FallbackEventLoop[];
  private lb = 0;
  private readonly hashesSource: boolean;
  private listeners: Listener[] = [];
  private readonly udpEndpoints: UdpEndpoint[] = [];
  /** Every accepted, dialled or enrolled socket until Node closes it, closing ones included (shutdown waits for them). */
  private readonly sockets = new Set<net.Socket>();
  /** Dials not connected yet: shutdown gives them up (each rejects with the error given). */
  private readonly dialing = new Set<(err: Error) => void>();
  private connectionCount = 0;
  private readonly acceptLog = new RateLimitedLog(this.logger, 'error');
  /** Accepted TLS handshakes that failed or timed out (never seen by the handler). */
  protected readonly handshakeFailures = new HandshakeFailures(this.logger);
  get tlsHandshakeFailures(): number {
    return this.handshakeFailures.count;
  }
  /** Accepted sockets start paused: the process engine hands them on before a byte is read here. */
  protected readonly pauseOnConnect: boolean = false;
  /** What the listeners handshake; the process engine's workers do it instead (plain listeners here). */
  protected get listenerTls(): ServerTls | undefined {
    return this.options.tls;
  }

  constructor(handler: EventHandler, options: ResolvedOptions) {
    super(handler, options);
    this.readBufferCap = options.readBufferCap;
    this.loops = Array.from({ length: options.numEventLoop }, (_, i) => new FallbackEventLoop(i, this));
    this.hashesSource = options.lb === 'source-addr-hash';
  }

  // ---- EngineBase -------------------------------------------------------------------------

  protected async listen(addrs: ResolvedAddr[]): Promise<void> {
    const o = this.options;
    if (o.bindToDevice !== '') throw unsupported('the bindToDevice option (SO_BINDTODEVICE)');
    this.lb = check(this.binding, this.binding.zg_lb_new(LbPolicy[o.lb], this.loops.length));
    for (const addr of addrs) {
      if (addr.network === 'udp') {
        let endpoint: UdpEndpoint | undefined;
        const listener = await listenDatagram(addr, o, (msg, rinfo) => {
          if (this.state === 'running') endpoint!.deliver(msg, rinfo);
        });
        endpoint = new UdpEndpoint(this, this.loops[0]!, listener.socket, listener.socketType, listener.addr);
        // A failed send (no route, message too long) is reported here; UDP has no conn to close.
        listener.socket.on('error', (err) => this.logger.warn(`${listener.addr}: ${err.message}`, err));
        this.udpEndpoints.push(endpoint);
        this.listeners.push(listener);
      } else {
        const listener: StreamListener = await listenStream(addr, o, (socket) => this.accept(socket, listener), this.pauseOnConnect, this.listenerTls);
        listener.server.on('error', (err) => this.acceptLog.note(() => `${listener.addr}: accepting failed, retrying: ${err.message}`));
        listener.server.on('tlsClientError', (err: Error, socket: tls.TLSSocket) => this.handshakeFailed(listener.addr, err, socket));
        this.listeners.push(listener);
      }
    }
    this.addrs = this.listeners.map((l) => l.addr);
  }

  protected startLoops(): void {
    // Nothing to start: the listeners accept from the moment they are bound, and nothing is
    // accepted before this runs (bind, onBoot and this run without yielding to I/O in between).
  }

  protected async closeConnections(loopIndex?: number): Promise<void> {
    if (loopIndex !== undefined) {
      this.loops[loopIndex]?.closeAll();
      return;
    }
    for (const giveUp of [...this.dialing]) giveUp(inShutdown());
    for (const loop of this.loops) loop.closeAll();
  }

  protected async closeListeners(): Promise<void> {
    for (const endpoint of this.udpEndpoints) endpoint.detached = true;
    // A listener closes once its accepted sockets have; dialled and enrolled ones are awaited here.
    const closing = [...this.listeners.map(closeListener), ...[...this.sockets].map(socketClosed)];
    // Accepted sockets are ending (onClose ran, bytes flushing while the peer takes them);
    // after FLUSH_ON_CLOSE_MS any still open is watched too, so none holds the stop forever.
    const grace = setTimeout(() => {
      for (const s of this.sockets) cutOffWithoutProgress(s, this.logger, 'a connection', true);
    }, FLUSH_ON_CLOSE_MS);
    await Promise.all(closing);
    clearTimeout(grace);
    this.listeners = [];
    if (this.lb > 0) {
      this.binding.zg_release(this.lb);
      this.lb = 0;
    }
  }

  countConnections(): number {
    return this.state === 'stopped' ? -1 : this.connectionCount;
  }

  protected *connections(): Iterable<NodeConn> {
    for (const loop of this.loops) yield* loop.conns;
  }

  dup(): number {
    throw unsupported('engine.dup');
  }

  dupListener(network: Network, addr: string): number {
    findListener(this.listeners, network, addr);
    throw unsupported('engine.dupListener');
  }

  // ---- connections --------------------------------------------------------------------------

  private accept(socket: net.Socket, listener: StreamListener): void {
    if (this.state !== 'running' || !this.admit()) {
      socket.destroy();
      return;
    }
    const remoteHost = socket.remoteAddress;
    if (listener.network === 'tcp' && remoteHost === undefined) {
      socket.destroy(); // reset before we saw it
      return;
    }
    let remote = 'unix://';
    let local = listener.addr;
    let source = '';
    if (listener.network === 'tcp') {
      source = hostPort(remoteHost!, socket.remotePort!);
      remote = `tcp://${source}`;
      local = `tcp://${hostPort(socket.localAddress!, socket.localPort!)}`;
    }
    // Only source-addr-hash reads the address: the others need not pay for the string.
    let index = this.binding.zg_lb_next(this.lb, this.hashesSource ? source : '');
    if (index < 0) {
      this.logger.error(`load balancer refused: ${this.binding.zg_status_name(index)}; using loop 0`);
      index = 0;
    }
    this.place(index, socket, listener.network, local, remote);
  }

  /** Serves an accepted socket on loop `index` (host/multicore/process-engine.ts passes it on instead). */
  protected place(index: number, socket: net.Socket, network: 'tcp' | 'unix', local: string, remote: string): void {
    this.openAccepted(this.loops[index]!, socket, network, local, remote);
  }

  /** Opens a socket accepted here or by another process's listener as a connection of `loop`. */
  openAccepted(loop: FallbackEventLoop, socket: net.Socket, network: 'tcp' | 'unix', local: string, remote: string, context?: unknown, accepted = true): Conn {
    this.track(socket);
    const conn =
      socket instanceof tls.TLSSocket
        ? new TlsStreamConn(this, loop, socket, network, local, remote)
        : new StreamConn(this, loop, socket, network, local, remote);
    conn.context = context;
    this.counters.opened(loop.index, accepted);
    conn.open();
    return conn;
  }

  /** node:tls already destroyed the socket: count it and say so, at a rate limit. */
  protected handshakeFailed(listenerAddr: string, err: Error, socket: tls.TLSSocket): void {
    const from = socket.remoteAddress === undefined ? undefined : hostPort(socket.remoteAddress, socket.remotePort ?? 0);
    this.handshakeFailures.failed(listenerAddr, from, handshakeError(err).message);
  }

  private track(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  }

  /** Opens a connected stream socket as a connection of `loop`; onOpen sees `context`. */
  private openStream(loop: FallbackEventLoop, socket: net.Socket, network: 'tcp' | 'unix', unixPath: string, context: unknown): Conn {
    const local = network === 'tcp' ? `tcp://${hostPort(socket.localAddress!, socket.localPort!)}` : 'unix://';
    const remote = network === 'tcp' ? `tcp://${hostPort(socket.remoteAddress!, socket.remotePort!)}` : formatAddr('unix', unixPath, 0);
    return this.openAccepted(loop, socket, network, local, remote, context, false);
  }

  private openDatagram(loop: FallbackEventLoop, socket: dgram.Socket, context: unknown): Conn {
    const local = socket.address();
    const remote = socket.remoteAddress();
    const conn = new ConnectedUdpConn(
      this, loop, socket, formatAddr('udp', local.address, local.port), formatAddr('udp', remote.address, remote.port),
    );
    conn.context = context;
    this.counters.opened(loop.index, false);
    conn.open();
    return conn;
  }

  // ---- ConnOwner / LoopOwner ----------------------------------------------------------------

  dial(loop: FallbackEventLoop, target: ResolvedAddr, context: unknown, signal: AbortSignal | undefined, tls: DialTls | undefined): Promise<Conn> {
    const o = this.options;
    if (tls !== undefined && target.network === 'udp') return Promise.reject(tlsConfigError('tls dials tcp and unix addresses; udp has no TLS'));
    return new Promise<Conn>((resolve, reject) => {
      let settled = false;
      let socket: net.Socket | dgram.Socket;
      const connected = () => {
        if (settled) return;
        settled = true;
        cleanup();
        if (!this.isRunning()) {
          discard();
          reject(inShutdown());
          return;
        }
        try {
          resolve(
            socket instanceof net.Socket
              ? this.openStream(loop, socket, target.network as 'tcp' | 'unix', target.path, context)
              : this.openDatagram(loop, socket, context),
          );
        } catch (err) {
          reject(err);
        }
      };
      const giveUp = (err: Error) => {
        if (settled) return;
        settled = true;
        cleanup();
        discard();
        reject(err);
      };
      const onAbort = () => giveUp(abortError(signal!));
      // Node's connect error, as zgnet reports system errors (the same text as native mode);
      // a TLS dial's handshake failure as ERR_TLS_HANDSHAKE.
      const failed = (err: Error) => giveUp(tls !== undefined && isTlsFailure(err) ? handshakeError(err) : fromNodeError(err, target));
      const cleanup = () => {
        this.dialing.delete(giveUp);
        signal?.removeEventListener('abort', onAbort);
        socket.off('error', failed);
      };
      const discard = () => {
        if (socket instanceof net.Socket) socket.destroy();
        else
          try {
            socket.close();
          } catch {
            // never bound
          }
      };
      if (target.network === 'udp') {
        const udp = dgram.createSocket({
          type: target.family === 6 || target.host.includes(':') ? 'udp6' : 'udp4',
          ...(o.socketRecvBuffer > 0 ? { recvBufferSize: o.socketRecvBuffer } : {}),
          ...(o.socketSendBuffer > 0 ? { sendBufferSize: o.socketSendBuffer } : {}),
        });
        socket = udp;
        udp.once('error', failed); // the implicit bind's failure
        udp.connect(target.port, target.host, (err?: Error) => (err ? failed(err) : connected()));
      } else if (tls !== undefined) {
        const stream = dialTlsSocket(target, tls, o, failed);
        socket = stream;
        stream.once('secureConnect', connected);
        stream.once('error', failed);
      } else {
        // allowHalfOpen: the engine ends the socket itself, after onClose (as for accepted ones).
        const stream =
          target.network === 'unix'
            ? net.connect({ path: target.path, allowHalfOpen: true })
            : net.connect({
                host: target.host,
                port: target.port,
                allowHalfOpen: true,
                noDelay: o.tcpNoDelay,
                keepAlive: o.tcpKeepAliveMs > 0,
                keepAliveInitialDelay: o.tcpKeepAliveMs,
              });
        socket = stream;
        stream.once('connect', connected);
        stream.once('error', failed);
      }
      this.dialing.add(giveUp);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  adopt(loop: FallbackEventLoop, adopted: Adoptable, context: unknown): Conn {
    if (!this.isRunning()) throw inShutdown();
    if (adopted.kind === 'datagram') {
      adopted.socket.removeAllListeners('message');
      return this.openDatagram(loop, adopted.socket, context);
    }
    const socket = adopted.socket;
    if (socket.readableEncoding !== null) {
      throw new ZgnetError(ErrorCode.INVALID_NET_CONN, 'the socket has an encoding set (setEncoding): zgnet reads bytes');
    }
    // Taken over as gnet takes a dup: the engine reads, and ends the socket after onClose.
    for (const event of ['data', 'readable', 'end'] as const) socket.removeAllListeners(event);
    socket.allowHalfOpen = true;
    return this.openStream(loop, socket, adopted.network, '', context);
  }

  shutdownFromLoop(index: number): void {
    void this.shutdown('action', index);
  }

  isRunning(): boolean {
    return this.state === 'running';
  }

  loopCountChanged(index: number, delta: 1 | -1): void {
    this.connectionCount += delta;
    // Called from socket events: a refusal here is a zgnet bug to log, never an exception.
    const result = this.lb > 0 ? this.binding.zg_lb_update(this.lb, index, delta) : 0;
    if (result < 0) this.logger.error(`load balancer update refused: ${this.binding.zg_status_name(result)}`);
  }
}

function socketClosed(socket: net.Socket): Promise<void> {
  if (socket.closed) return Promise.resolve();
  return new Promise((resolve) => socket.once('close', () => resolve()));
}

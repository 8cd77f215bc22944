/**
 * Server-side UDP, gnet's way (reference §3.8): one onTraffic per datagram, no onOpen or
 * onClose, nothing counted by countConnections. Each datagram gets its own small UdpConn, as
 * gnet's: a handler may keep `c` and asyncWrite to that sender later, whoever sent since.
 * Unread bytes are dropped after the callback; a datagram longer than readBufferCap is
 * truncated.
 *
 * `write` replies to the sender at once (no outbound buffer); `sendTo` sends anywhere;
 * `writev`/`asyncWritev` are ERR_UNSUPPORTED_OP; `close` and `wake` do nothing.
 */
import type dgram from 'node:dgram';
import net from 'node:net';
import { Action, type Conn } from '../api.js';
import { formatAddr, parseProtoAddr } from '../address.js';
import { invoke } from '../engine/invoke.js';
import { ErrorCode, ZgnetError } from '../errors.js';
import type { ConnOwner } from './connection.js';
import { connClosed, notForProtocol, quiet, unsupported } from './errors.js';
import type { FallbackEventLoop } from './event-loop.js';
import { Inbound } from './inbound.js';

const RESOLVED = Promise.resolve();

/** One listening UDP socket: what its datagrams' conns share. */
export class UdpEndpoint {
  /** Set when the socket closes (engine shutdown): writes then do nothing, they must not throw. */
  detached = false;

  constructor(
    readonly owner: ConnOwner,
    readonly loop: FallbackEventLoop,
    readonly socket: dgram.Socket,
    /** 'udp4' or 'udp6' (a dual-stack socket is udp6 and reaches IPv4 peers as ::ffff:a.b.c.d). */
    readonly socketType: 'udp4' | 'udp6',
    readonly localAddr: string,
  ) {}

  /** One datagram, one onTraffic. */
  deliver(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const cap = this.owner.readBufferCap;
    const c = new UdpConn(this, msg.length > cap ? msg.subarray(0, cap) : msg, rinfo.address, rinfo.port);
    const h = this.owner.handler;
    const outcome = invoke(this.owner.logger, 'onTraffic', () => h.onTraffic?.(c));
    c.release();
    if (outcome.error === null && outcome.action === Action.Shutdown) this.owner.shutdownFromLoop(this.loop.index);
  }

  /** Sends a copy unless `data` is a view of a received datagram (dgram keeps a reference until sent). */
  send(data: Uint8Array | string, port: number, host: string, memory: ArrayBufferLike, done?: (err: Error | null) => void): number {
    if (typeof data === 'string') {
      this.socket.send(data, port, host, done);
      return Buffer.byteLength(data);
    }
    this.socket.send(data.buffer === memory ? data : Buffer.from(data), port, host, done);
    return data.length;
  }
}

export class UdpConn extends Inbound implements Conn {
  context: unknown = undefined;
  private remoteText: string | undefined;
  private readonly memory: ArrayBufferLike;

  constructor(
    private readonly endpoint: UdpEndpoint,
    datagram: Buffer,
    private readonly remoteHost: string,
    private readonly remotePort: number,
  ) {
    super(endpoint.owner.binding);
    this.memory = datagram.buffer;
    this.receive(datagram);
  }

  get eventLoop(): FallbackEventLoop {
    return this.endpoint.loop;
  }

  get localAddr(): string {
    return this.endpoint.localAddr;
  }

  get remoteAddr(): string {
    return (this.remoteText ??= formatAddr('udp', this.remoteHost, this.remotePort));
  }

  /** After the callback: unread bytes are dropped (gnet releases the conn). */
  release(): void {
    this.releaseInbound();
  }

  // ---- writing ------------------------------------------------------------------------------

  write(data: Uint8Array | string): number {
    if (this.endpoint.detached) return 0;
    return this.endpoint.send(data, this.remotePort, this.remoteHost, this.memory);
  }

  sendTo(data: Uint8Array | string, addr: string): number {
    const target = parseProtoAddr(addr);
    const family = net.isIP(target.host.replace(/%.*$/, ''));
    if (target.network !== 'udp' || family === 0) {
      throw new ZgnetError(ErrorCode.INVALID_NETWORK_ADDRESS, `sendTo needs udp://ip:port (got ${JSON.stringify(addr)})`);
    }
    if (this.endpoint.detached) return 0;
    const host = family === 4 && this.endpoint.socketType === 'udp6' ? `::ffff:${target.host}` : target.host;
    return this.endpoint.send(data, target.port, host, this.memory);
  }

  writev(_chunks: Uint8Array[]): number {
    throw notForProtocol('writev', 'server UDP');
  }

  flush(): void {}

  outboundBuffered(): number {
    return 0;
  }

  /** As gnet: sent at once, to this datagram's sender; settles when Node has sent it. */
  asyncWrite(data: Uint8Array | string): Promise<void> {
    if (this.endpoint.detached) return quiet(Promise.reject(connClosed()));
    return quiet(
      new Promise<void>((resolve, reject) => {
        this.endpoint.send(data, this.remotePort, this.remoteHost, this.memory, (err) => (err ? reject(err) : resolve()));
      }),
    );
  }

  asyncWritev(_chunks: Uint8Array[]): Promise<void> {
    return quiet(Promise.reject(notForProtocol('asyncWritev', 'server UDP')));
  }

  wake(): Promise<void> {
    return RESOLVED;
  }

  close(): Promise<void> {
    return RESOLVED;
  }

  // ---- socket options (the listening socket's, shared by every datagram, as in gnet) --------

  get fd(): number {
    throw unsupported('Conn.fd');
  }

  dup(): number {
    throw unsupported('Conn.dup');
  }

  setNoDelay(_on: boolean): void {
    throw notForProtocol('setNoDelay', 'udp');
  }

  setKeepAlivePeriod(_ms: number): void {
    throw notForProtocol('setKeepAlivePeriod', 'udp');
  }

  setKeepAlive(_on: boolean, _idleMs: number, _intervalMs: number, _count: number): void {
    throw notForProtocol('setKeepAlive', 'udp');
  }

  setLinger(_sec: number): void {
    throw unsupported('Conn.setLinger (SO_LINGER)');
  }

  setReadBuffer(bytes: number): void {
    this.endpoint.socket.setRecvBufferSize(bytes);
  }

  setWriteBuffer(bytes: number): void {
    this.endpoint.socket.setSendBufferSize(bytes);
  }
}

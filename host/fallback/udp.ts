/**
 * Server-side UDP in wasm mode: a listening `dgram.Socket` whose datagrams become the conns of
 * host/engine/datagram.ts. A datagram longer than readBufferCap is truncated.
 */
import type * as dgram from 'node:dgram';
import * as net from 'node:net';
import { formatAddr, parseProtoAddr } from '../address.js';
import { DatagramConn } from '../engine/datagram.js';
import { connClosed, ErrorCode, quiet, quietReject, ZgnetError } from '../errors.js';
import type { NodeConnOwner } from './connection.js';
import { unsupported } from './errors.js';
import type { FallbackEventLoop } from './event-loop.js';

/** One listening UDP socket: what its datagrams' conns share. */
export class UdpEndpoint {
  /** Set when the socket closes (engine shutdown): writes then do nothing, they must not throw. */
  detached = false;

  constructor(
    readonly owner: NodeConnOwner,
    readonly loop: FallbackEventLoop,
    readonly socket: dgram.Socket,
    /** 'udp4' or 'udp6' (a dual-stack socket is udp6 and reaches IPv4 peers as ::ffff:a.b.c.d). */
    readonly socketType: 'udp4' | 'udp6',
    readonly localAddr: string,
  ) {}

  /** One datagram, one onTraffic. */
  deliver(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const length = Math.min(msg.length, this.owner.readBufferCap);
    new UdpConn(this, msg, rinfo.address, rinfo.port).handle(length);
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

export class UdpConn extends DatagramConn {
  private remoteText: string | undefined;
  private readonly memory: ArrayBufferLike;

  constructor(
    private readonly endpoint: UdpEndpoint,
    private readonly datagram: Buffer,
    private readonly remoteHost: string,
    private readonly peerPort: number,
  ) {
    super(endpoint.owner);
    this.memory = datagram.buffer;
  }

  handle(length: number): void {
    this.deliver(this.datagram, 0, length);
  }

  get eventLoop(): FallbackEventLoop {
    return this.endpoint.loop;
  }

  get localAddr(): string {
    return this.endpoint.localAddr;
  }

  get remoteAddr(): string {
    return (this.remoteText ??= formatAddr('udp', this.remoteHost, this.peerPort));
  }

  protected reply(data: Uint8Array | string): number {
    if (this.endpoint.detached) return 0;
    return this.endpoint.send(data, this.peerPort, this.remoteHost, this.memory);
  }

  protected replyLater(data: Uint8Array | string): Promise<void> {
    if (this.endpoint.detached) return quietReject(connClosed());
    return quiet(
      new Promise<void>((resolve, reject) => {
        this.endpoint.send(data, this.peerPort, this.remoteHost, this.memory, (err) => (err ? reject(err) : resolve()));
      }),
    );
  }

  protected sendToAddr(data: Uint8Array | string, addr: string): number {
    const target = parseProtoAddr(addr);
    const family = net.isIP(target.host.replace(/%.*$/, ''));
    if (target.network !== 'udp' || family === 0) {
      throw new ZgnetError(ErrorCode.INVALID_NETWORK_ADDRESS, `sendTo needs udp://ip:port (got ${JSON.stringify(addr)})`);
    }
    if (this.endpoint.detached) return 0;
    const host = family === 4 && this.endpoint.socketType === 'udp6' ? `::ffff:${target.host}` : target.host;
    return this.endpoint.send(data, target.port, host, this.memory);
  }

  get fd(): number {
    throw unsupported('Conn.fd');
  }

  dup(): number {
    throw unsupported('Conn.dup');
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

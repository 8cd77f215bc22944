/**
 * A server UDP datagram as a Conn (gnet's server UDP), written once for both engines: one
 * onTraffic per datagram, no onOpen or onClose, nothing counted by countConnections. Each
 * datagram gets its own small conn, as gnet's: a handler may keep `c` and asyncWrite to that
 * sender later, whoever sent since. Unread bytes are dropped after the callback.
 *
 * `write` replies to the sender (no outbound buffer: in native mode the replies a batch of
 * datagrams writes leave together when it ends, by one sendmmsg; a reply the socket refuses is
 * dropped, as UDP may, and logged); `sendTo` sends anywhere;
 * `writev`/`asyncWritev` are ERR_UNSUPPORTED_OP; `close` and `wake` do nothing.
 */
import { Action, type Conn, type EventLoop } from '../api.js';
import { bytesError, checkBytes, describe, ErrorCode, notForProtocol, quietReject, ZgnetError } from '../errors.js';
import type { ConnOwner } from './conn.js';
import { CoreRing, InboundStream } from './inbound.js';
import { AddressedStream } from './addressed.js';
import { invoke } from './invoke.js';

const RESOLVED = Promise.resolve();

export abstract class DatagramConn extends AddressedStream implements Conn {
  context: unknown = undefined;
  /** This datagram's length. */
  bytesRead = 0;
  /** Bytes this conn's replies sent (write, asyncWrite). */
  bytesWritten = 0;
  /** UDP has no TLS. */
  readonly tls = null;

  constructor(protected readonly owner: ConnOwner) {
    // A codec on a datagram is rare: the datagram then goes through a core ring of its own.
    super(owner.binding);
  }

  protected newRing(): CoreRing {
    return new CoreRing(this.owner.binding);
  }

  abstract readonly eventLoop: EventLoop & { readonly index: number };

  /** One datagram `bytes[start, end)`, one onTraffic; its unread bytes are dropped after. */
  protected deliver(bytes: Buffer, start: number, end: number): void {
    this.bytesRead = end - start;
    this.owner.counters.read(this.eventLoop.index, end - start);
    this.receive(bytes, start, end);
    const h = this.owner.handler;
    const outcome = invoke(this.owner.logger, 'onTraffic', () => h.onTraffic?.(this));
    this.releaseInbound();
    if (outcome.error === null && outcome.action === Action.Shutdown) this.owner.shutdownFromLoop(this.eventLoop.index);
  }

  write(data: Uint8Array | string): number {
    checkBytes(data, 'write');
    const n = this.reply(data);
    this.bytesWritten += n;
    this.owner.counters.wrote(this.eventLoop.index, n);
    return n;
  }

  /** A datagram has no FIN: `end(data)` is a reply, `end()` nothing. */
  end(data?: Uint8Array | string): void {
    if (data !== undefined) this.write(data);
  }

  /** Sends `data` to this datagram's sender now. */
  protected abstract reply(data: Uint8Array | string): number;

  asyncWrite(data: Uint8Array | string): Promise<void> {
    const invalid = bytesError(data, 'asyncWrite');
    if (invalid !== null) return quietReject(invalid);
    const n = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    return this.replyLater(data).then(() => this.owner.counters.wrote(this.eventLoop.index, n));
  }

  /** As gnet: sent at once, to this datagram's sender; settles once it is sent. */
  protected abstract replyLater(data: Uint8Array | string): Promise<void>;

  /** `data` to `addr` (`udp://host:port`) from this datagram's listening socket. */
  sendTo(data: Uint8Array | string, addr: string): number {
    checkBytes(data, 'sendTo');
    if (typeof addr !== 'string') throw new ZgnetError(ErrorCode.INVALID_NETWORK_ADDRESS, `sendTo() takes an address string, not ${describe(addr)}`);
    const n = this.sendToAddr(data, addr);
    this.owner.counters.wrote(this.eventLoop.index, n);
    return n;
  }

  protected abstract sendToAddr(data: Uint8Array | string, addr: string): number;

  writev(_chunks: Uint8Array[]): number {
    throw notForProtocol('writev', 'server UDP');
  }

  asyncWritev(_chunks: Uint8Array[]): Promise<void> {
    return quietReject(notForProtocol('asyncWritev', 'server UDP'));
  }

  flush(): void {}

  outboundBuffered(): number {
    return 0;
  }

  wake(): Promise<void> {
    return RESOLVED;
  }

  /** Nothing is queued: a datagram goes out at once. */
  get writable(): boolean {
    return true;
  }

  pauseRead(): void {
    throw notForProtocol('pauseRead', 'server UDP');
  }

  resumeRead(): void {
    throw notForProtocol('resumeRead', 'server UDP');
  }

  setIdleTimeout(_ms: number): void {
    throw notForProtocol('setIdleTimeout', 'server UDP');
  }

  close(): Promise<void> {
    return RESOLVED;
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

  // The listening socket's options, shared by every datagram, as in gnet.
  abstract setLinger(sec: number): void;
  abstract setReadBuffer(bytes: number): void;
  abstract setWriteBuffer(bytes: number): void;
  abstract readonly fd: number;
  abstract dup(): number;
}

/**
 * A connected UDP socket as a connection (gnet reference §3.8, "client/registered UDP"): a
 * dialled `udp://` address or an enrolled, connected `dgram.Socket`. Unlike server UDP it
 * opens and closes (onOpen, onClose) and keeps one inbound stream, gnet's default build: each
 * datagram is one read (truncated to readBufferCap), and what onTraffic leaves joins the next.
 * `write` sends one datagram at once (gnet: `send()`, no outbound buffer); a datagram the
 * socket refuses is dropped and the connection stays open. A receive error (ECONNREFUSED
 * from the peer's ICMP) closes it with that error, as gnet's read does.
 */
import type dgram from 'node:dgram';
import { CLOSED, LoopConn, OPEN, type ConnOwner } from './connection.js';
import { connClosed, notForProtocol, quiet } from './errors.js';
import type { FallbackEventLoop } from './event-loop.js';

export class DatagramConn extends LoopConn {
  constructor(
    owner: ConnOwner,
    loop: FallbackEventLoop,
    private readonly socket: dgram.Socket,
    localAddr: string,
    remoteAddr: string,
  ) {
    super(owner, loop, localAddr, remoteAddr);
  }

  /** Wires the socket, joins the loop and runs onOpen. */
  open(): void {
    const s = this.socket;
    const cap = this.owner.readBufferCap;
    s.on('message', (msg: Buffer) => this.onData(msg.length > cap ? msg.subarray(0, cap) : msg));
    s.on('error', (err: Error) => this.closeWith(err, true));
    s.on('close', () => this.closeWith(null, true));
    this.begin();
  }

  protected finishSocket(_peerGone: boolean): void {
    try {
      this.socket.close();
    } catch {
      // Already closed.
    }
  }

  /** One datagram, sent now; a copy unless it is a view of received bytes (dgram keeps a reference). */
  write(data: Uint8Array | string): number {
    if (this.state === CLOSED) return 0;
    return this.send(data, this.dropped);
  }

  private send(data: Uint8Array | string, done: (err: Error | null) => void): number {
    if (typeof data === 'string') {
      this.socket.send(data, done);
      return Buffer.byteLength(data);
    }
    this.socket.send(this.isReceived(data) ? data : Buffer.from(data), done);
    return data.length;
  }

  /** A send the socket refused: the datagram is lost, as any UDP datagram may be. */
  private readonly dropped = (err: Error | null): void => {
    if (err !== null) this.owner.logger.debug(`${this.remoteAddr}: datagram dropped: ${err.message}`);
  };

  writev(_chunks: Uint8Array[]): number {
    throw notForProtocol('writev', 'udp');
  }

  sendTo(_data: Uint8Array | string, _addr: string): number {
    throw notForProtocol('sendTo', 'connected udp');
  }

  flush(): void {}

  outboundBuffered(): number {
    return 0;
  }

  /** As gnet: sent at once; settles when Node has sent it (rejects with the send error). */
  asyncWrite(data: Uint8Array | string): Promise<void> {
    if (this.state !== OPEN) return quiet(Promise.reject(connClosed()));
    return quiet(new Promise<void>((resolve, reject) => void this.send(data, (err) => (err ? reject(err) : resolve()))));
  }

  asyncWritev(_chunks: Uint8Array[]): Promise<void> {
    return quiet(Promise.reject(notForProtocol('asyncWritev', 'udp')));
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

  setReadBuffer(bytes: number): void {
    this.socket.setRecvBufferSize(bytes);
  }

  setWriteBuffer(bytes: number): void {
    this.socket.setSendBufferSize(bytes);
  }
}

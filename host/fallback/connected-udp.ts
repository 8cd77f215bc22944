/**
 * A connected UDP socket as a connection (gnet's client/registered UDP): a
 * dialled `udp://` address or an enrolled, connected `dgram.Socket`. Unlike server UDP it
 * opens and closes (onOpen, onClose) and keeps one inbound stream, gnet's default build: each
 * datagram is one read (truncated to readBufferCap), and what onTraffic leaves joins the next.
 * `write` sends one datagram at once (gnet: `send()`, no outbound buffer); a datagram the
 * socket refuses is dropped and the connection stays open. A receive error (ECONNREFUSED
 * from the peer's ICMP) closes it with that error, as gnet's read does.
 */
import type * as dgram from 'node:dgram';
import { NodeConn, type NodeConnOwner } from './connection.js';
import type { FallbackEventLoop } from './event-loop.js';

export class ConnectedUdpConn extends NodeConn {
  readonly network = 'udp' as const;
  private paused = false;
  /** Bytes of the datagrams sent. */
  bytesWritten = 0;

  constructor(
    owner: NodeConnOwner,
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
    s.on('message', (msg: Buffer) => {
      if (!this.paused) this.onData(msg.length > cap ? msg.subarray(0, cap) : msg);
    });
    s.on('error', (err: Error) => this.closeWith(err, true));
    s.on('close', () => this.closeWith(null, true));
    this.begin();
  }

  protected closeSocket(_peerGone: boolean): void {
    try {
      this.socket.close();
    } catch {
      // Already closed.
    }
  }

  /** One datagram, sent now; a copy unless it is a view of received bytes (dgram keeps a reference). */
  protected send(data: Uint8Array | string, done: (err: Error | null) => void = this.dropped): number {
    this.socket.send(typeof data === 'string' ? data : this.owned(data), done);
    const n = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    this.bytesWritten += n;
    return n;
  }

  /** A datagram socket has no FIN: EngineConn.end closes it instead (never called). */
  protected endSocket(): void {
    void this.close();
  }

  /** A send the socket refused: the datagram is lost, as any UDP datagram may be. */
  private readonly dropped = (err: Error | null): void => {
    if (err !== null) this.logger.debug(`${this.remoteAddr}: datagram dropped: ${err.message}`);
  };

  /** As gnet: sent at once; settles when Node has sent it (rejects with the send error). */
  protected sendLater(data: Uint8Array | string): Promise<void> {
    return new Promise<void>((resolve, reject) => void this.send(data, (err) => (err ? reject(err) : resolve())));
  }

  flush(): void {}

  outboundBuffered(): number {
    return 0;
  }

  /** A datagram goes out at once: nothing is ever queued. */
  protected queuedOutbound(): number {
    return 0;
  }

  protected watchWritable(): void {
    queueMicrotask(() => this.drainedBelowLowMark());
  }

  /** dgram cannot stop receiving: datagrams that arrive while paused are dropped, as a full socket buffer would. */
  protected applyReadPaused(paused: boolean): void {
    this.paused = paused;
  }

  protected applyBufferSize(which: 'recv' | 'send', bytes: number): void {
    if (which === 'recv') this.socket.setRecvBufferSize(bytes);
    else this.socket.setSendBufferSize(bytes);
  }
}

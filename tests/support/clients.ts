/**
 * Raw node:net and node:dgram peers for the engine under test: they speak to it the way any
 * client would, so nothing of zgnet is on this side of the wire.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { within } from './wait.js';

export interface Endpoint {
  network: 'tcp' | 'udp' | 'unix';
  host: string;
  port: number;
  path: string;
}

/** `tcp://127.0.0.1:9000`, `tcp6://[::1]:9000`, `udp://…`, `unix:///tmp/x.sock` → where to connect. */
export function endpoint(protoAddr: string): Endpoint {
  const m = /^(tcp|tcp4|tcp6|udp|udp4|udp6|unix):\/\/(.*)$/.exec(protoAddr);
  if (!m) throw new Error(`not an address: ${protoAddr}`);
  const scheme = m[1]!;
  const rest = m[2]!;
  if (scheme === 'unix') return { network: 'unix', host: '', port: 0, path: rest };
  const hp = /^\[([^\]]+)\]:(\d+)$/.exec(rest) ?? /^([^:]+):(\d+)$/.exec(rest);
  if (!hp) throw new Error(`no host:port in ${protoAddr}`);
  return { network: scheme.startsWith('tcp') ? 'tcp' : 'udp', host: hp[1]!, port: Number(hp[2]), path: '' };
}

/** Go's `host:port` (IPv6 in brackets), as gnet prints addresses and as source-addr-hash hashes them. */
export function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

const READ_MS = 15_000;
/** Loopback datagrams come back at once or not at all: a missing one fails sooner. */
const DATAGRAM_MS = 5_000;

/** A stream client that buffers what it receives and reads exact lengths on demand. */
export class StreamPeer {
  private chunks: Buffer[] = [];
  private size = 0;
  private waiter: (() => void) | undefined;
  received = 0;
  ended = false;
  error: (Error & { code?: string }) | null = null;
  readonly closed: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.size += chunk.length;
      this.received += chunk.length;
      this.waiter?.();
    });
    socket.on('end', () => {
      this.ended = true;
      this.waiter?.();
    });
    socket.on('error', (err) => {
      this.error = err;
      this.waiter?.();
    });
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  static connect(protoAddr: string, options: { noDelay?: boolean } = {}): Promise<StreamPeer> {
    const ep = endpoint(protoAddr);
    if (ep.network === 'udp') throw new Error(`StreamPeer cannot connect to ${protoAddr}`);
    const socket = ep.network === 'unix' ? net.connect({ path: ep.path }) : net.connect({ host: ep.host, port: ep.port });
    if (options.noDelay) socket.setNoDelay(true);
    const connected = new Promise<StreamPeer>((resolve, reject) => {
      socket.once('connect', () => resolve(new StreamPeer(socket)));
      socket.once('error', reject);
    });
    return within(`connecting to ${protoAddr}`, READ_MS, connected);
  }

  /** Bytes buffered and not yet read by `read`. */
  get buffered(): number {
    return this.size;
  }

  write(data: Uint8Array | string): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(data, (err) => (err ? reject(err) : resolve())));
  }

  /** Resolves with exactly n bytes; rejects when the stream ends or fails first. */
  read(n: number, what = `${n} bytes`, ms = READ_MS): Promise<Buffer> {
    return within(`reading ${what} (have ${this.size})`, ms, this.waitFor(() => this.size >= n, what, n)).then(() => this.take(n));
  }

  /** Everything until the peer ends the stream. */
  readToEnd(ms = READ_MS): Promise<Buffer> {
    return within(`reading to the end (have ${this.size})`, ms, this.waitFor(() => this.ended || this.error !== null, 'the end', -1)).then(
      () => this.take(this.size),
    );
  }

  /** Resolves when the peer ended or reset the stream. */
  waitEnd(ms = READ_MS): Promise<void> {
    return within('waiting for the end of the stream', ms, this.waitFor(() => this.ended || this.error !== null, 'the end', -1));
  }

  private waitFor(done: () => boolean, what: string, n: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (done()) {
          this.waiter = undefined;
          resolve();
        } else if (n >= 0 && (this.ended || this.error)) {
          this.waiter = undefined;
          reject(new Error(`stream ${this.error ? `failed (${this.error.code ?? this.error.message})` : 'ended'} with ${this.size} of ${what}`));
        }
      };
      this.waiter = check;
      check();
    });
  }

  private take(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.size = rest.length;
    return out;
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Closes with a RST (SO_LINGER 0) instead of a FIN. */
  reset(): void {
    this.socket.resetAndDestroy();
  }
}

/** A UDP client socket bound to an ephemeral port, with a queue of received datagrams. */
export class DatagramPeer {
  private queue: Buffer[] = [];
  private waiter: (() => void) | undefined;

  private constructor(
    readonly socket: dgram.Socket,
    readonly target: Endpoint,
  ) {
    socket.on('message', (msg: Buffer) => {
      this.queue.push(msg);
      this.waiter?.();
    });
  }

  static async open(protoAddr: string): Promise<DatagramPeer> {
    const ep = endpoint(protoAddr);
    const socket = dgram.createSocket(ep.host.includes(':') ? 'udp6' : 'udp4');
    await within('binding a udp client', READ_MS, new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, ep.host, () => resolve());
    }));
    return new DatagramPeer(socket, ep);
  }

  get port(): number {
    return this.socket.address().port;
  }

  send(data: Uint8Array | string): Promise<void> {
    return new Promise((resolve, reject) =>
      this.socket.send(data, this.target.port, this.target.host, (err) => (err ? reject(err) : resolve())),
    );
  }

  receive(what = 'a datagram', ms = DATAGRAM_MS): Promise<Buffer> {
    const next = new Promise<Buffer>((resolve) => {
      const check = () => {
        const msg = this.queue.shift();
        if (msg === undefined) return;
        this.waiter = undefined;
        resolve(msg);
      };
      this.waiter = check;
      check();
    });
    return within(`receiving ${what}`, ms, next);
  }

  close(): void {
    try {
      this.socket.close();
    } catch {
      // already closed
    }
  }
}

/** Asserts two byte strings are equal, reporting the first differing offset instead of a dump. */
export function sameBytes(actual: Uint8Array, expected: Uint8Array): string | null {
  if (actual.length !== expected.length) return `length ${actual.length}, expected ${expected.length}`;
  if (Buffer.compare(actual, expected) === 0) return null;
  let i = 0;
  while (actual[i] === expected[i]) i++;
  return `first difference at byte ${i}: ${actual[i]} instead of ${expected[i]}`;
}

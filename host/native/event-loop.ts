/**
 * One native event loop on the JS thread (the batch: ARCHITECTURE.md, 'The batch'): its Zig
 * poller's fd is watched by `koffi.node.poll`; when it is readable, ONE FFI call drains every
 * ready socket into the record array, the handlers run, and ONE FFI call flushes what they
 * asked for. This file is the drain side: polling, the records, the connections by slot. What
 * handlers ask of Zig is commands.ts (the class this one extends); dials and adoptions are
 * dial.ts.
 */
import { isMainThread } from 'node:worker_threads';
import type { Conn } from '../api.js';
import type { DialTls } from '../tls/options.js';
import { tlsInfo } from './tls.js';
import type { EngineLoop } from '../engine/base.js';
import { CLOSED, OPEN } from '../engine/conn.js';
import { inShutdown } from '../engine/dial.js';
import { TaskQueue } from '../engine/task-queue.js';
import type * as dgram from 'node:dgram';
import type * as net from 'node:net';
import { L } from './binding.js';
import { LoopCommands } from './commands.js';
import { NativeConn, UdpConn } from './conn.js';
import { LoopDials } from './dial.js';
import type { NativeEngine } from './engine.js';

/** Drains per poll callback when the previous one ran out of room. */
const DRAIN_ROUNDS_MAX = 8;
const REC = L.record_words;
const KIND = L.field_kind;

type PollHandle = { start(opts: object, cb: () => void): void; stop(): void; close(): void; ref(): void; unref(): void };

export class NativeLoop extends LoopCommands implements EngineLoop {
  readonly records: Int32Array;
  /** close, wake, execute: run in order on a later turn, each turn one batch. */
  readonly tasks: TaskQueue;
  readonly conns: (NativeConn | undefined)[] = [];
  openCount = 0;
  private readonly dials = new LoopDials(this);
  private poll: PollHandle | undefined;
  private scratch = Buffer.allocUnsafe(256);
  private drainQueued = false;
  private readonly drainTask = () => {
    this.drainQueued = false;
    this.drainAll();
  };
  /**
   * On a worker thread the batch runs on the next turn, not inside koffi's poll callback: a
   * thread that ends (process.exit in a handler, terminate()) while JavaScript runs inside that
   * callback makes koffi rethrow the termination, which aborts the whole process.
   */
  private readonly onReadable = () => {
    if (isMainThread) return this.drainAll();
    if (this.drainQueued) return;
    this.drainQueued = true;
    setImmediate(this.drainTask);
  };

  constructor(engine: NativeEngine, index: number, readBufferCap: number) {
    // Off-heap memory (never moved by V8): Zig keeps these addresses until the engine is freed.
    super(engine, index, Buffer.allocUnsafeSlow(engine.api.zg_engine_read_area_size(readBufferCap)));
    this.tasks = new TaskQueue((turn) => this.runTask(turn), engine.logger);
    this.records = new Int32Array(new ArrayBuffer((L.records_max + 1) * REC * 4));
    const r = this.api.zg_loop_attach(
      engine.handle, index, this.records, this.records.length, this.area, this.area.length,
      this.commands, this.commands.length, this.arena, this.arena.length,
    );
    engine.check(r);
  }

  // ---- polling --------------------------------------------------------------------------------

  startPolling(): void {
    const fd = this.engine.check(this.api.zg_loop_fd(this.engine.handle, this.index));
    const koffi = this.engine.koffi;
    // A bad fd aborts Node inside uv_poll_init: it comes from our own poller, checked above.
    this.poll = (koffi as unknown as { node: { poll(fd: number, o: object, cb: () => void): PollHandle } }).node.poll(
      fd, { readable: true }, this.onReadable,
    );
  }

  stopPolling(): void {
    this.poll?.close();
    this.poll = undefined;
  }

  /** One or more drain → handlers → flush rounds (more when a drain ran out of room). */
  drainAll(): void {
    if (this.engine.freed) return;
    const api = this.api;
    const records = this.records;
    for (let round = 0; round < DRAIN_ROUNDS_MAX; round++) {
      const count = api.zg_loop_drain(this.engine.handle, this.index);
      if (count < 0) {
        this.engine.logger.error(`drain failed: ${this.engine.binding.zg_status_name(count)}`);
        return;
      }
      this.inBatch = true;
      try {
        for (let i = 1; i <= count; i++) this.dispatch(i);
      } finally {
        this.inBatch = false;
      }
      this.engine.flushAll();
      const acceptErrno = records[L.header_accept_errno]!;
      const shed = records[L.header_accept_shed]!;
      if (acceptErrno !== 0 || shed !== 0) this.engine.acceptTrouble(acceptErrno, shed, this.index);
      const refused = records[L.header_datagrams_refused]!;
      if (refused !== 0) this.engine.datagramsRefused(refused, records[L.header_datagrams_refused_errno]!);
      if (this.engine.servesTls) this.engine.collectTlsFailures(this.index);
      if (acceptErrno !== 0) return; // accepting resumes at the next readiness
      if (records[L.header_more] === 0) return;
    }
  }

  private dispatch(i: number): void {
    const r = this.records;
    const base = i * REC;
    const kind = r[base + KIND];
    const slot = r[base + L.field_slot]!;
    const generation = r[base + L.field_generation]!;
    if (kind === L.record_data) {
      this.liveConn(slot, generation)?.readRecord(r[base + L.field_offset]!, r[base + L.field_length]!, r[base + L.field_aux]! > 0, r[base + L.field_aux2]!);
    } else if (kind === L.record_writable) {
      this.liveConn(slot, generation)?.writableRecord(r[base + L.field_aux]!, r[base + L.field_aux2]!);
    } else if (kind === L.record_end) {
      this.liveConn(slot, generation)?.peerEnd();
    } else if (kind === L.record_datagram) {
      this.datagram(i, slot, r[base + L.field_offset]!, r[base + L.field_length]!);
    } else if (kind === L.record_open) {
      this.open(slot, generation, r[base + L.field_aux]!, r[base + L.field_aux2]!);
    } else if (kind === L.record_close) {
      this.closed(slot, generation, base);
    }
  }

  /** The open conn a record of (slot, generation) is for; undefined for a stale record. */
  private liveConn(slot: number, generation: number): NativeConn | undefined {
    const conn = this.conns[slot];
    return conn !== undefined && conn.generation === generation && conn.state === OPEN ? conn : undefined;
  }

  /** A close record: a dial that failed (its promise rejects), or an open conn's end. */
  private closed(slot: number, generation: number, base: number): void {
    if (this.dials.dropsAbandoned(slot, generation)) return;
    const pending = this.dials.claim(slot, generation);
    if (pending !== undefined) return this.dials.failed(slot, pending, this.closeErrorAt(base));
    this.liveConn(slot, generation)?.closeWith(this.closeErrorAt(base));
  }

  private closeErrorAt(base: number): Error {
    const r = this.records;
    return this.engine.closeError(r[base + L.field_aux]!, r[base + L.field_aux2]!, r[base + L.field_length]!);
  }

  private open(slot: number, generation: number, fd: number, network: number): void {
    if (this.dials.dropsAbandoned(slot, generation)) return;
    // A new Conn per connection, never the slot's previous one: a handler may keep a Conn past
    // its onClose (a proxy's peer), and its writes must fail there, not reach whoever is next.
    const conn = new NativeConn(this, slot, generation, fd, network === 2 ? 'unix' : network === 1 ? 'udp' : 'tcp');
    this.conns[slot] = conn;
    const pending = this.dials.claim(slot, generation);
    if (pending !== undefined) conn.context = pending.context;
    const accepted = pending === undefined;
    if (accepted ? this.engine.servesTls : pending.tls) conn.setTls(tlsInfo(this.api, this.engine.handle, this.index, slot, generation));
    if (!this.engine.isRunning() || (accepted && !this.engine.admit(this.index))) {
      // Accepted (or dialled) while shutting down, or over maxConnections: nobody serves it.
      conn.state = CLOSED;
      this.closeSlot(slot, generation);
      pending?.reject(inShutdown());
      return;
    }
    this.openCount++;
    this.engine.countConn(this.index, 1);
    this.engine.counters.opened(this.index, accepted);
    conn.open();
    if (pending === undefined) return;
    if (pending.early !== null && conn.state === OPEN) {
      this.keepEarly(conn, pending.early);
      conn.traffic();
    }
    pending.resolve(conn);
  }

  /** A connection leaves this loop's books (it is closing). */
  connLeft(): void {
    this.openCount--;
    this.engine.countConn(this.index, -1);
  }

  private datagram(record: number, listener: number, offset: number, length: number): void {
    if (this.engine.handler.onTraffic === undefined || !this.engine.isRunning()) return;
    // One conn per datagram, as gnet: it may be kept (asyncWrite replies after the callback).
    new UdpConn(this).handle(record, listener, offset, length);
  }

  /** Runs `fn` as a batch (its writes flushed when it ends), outside a drain. */
  runTask(fn: () => void): void {
    // Once the engine is freed a turn still runs, unflushed: the tasks queued before the end
    // settle (their connections are closed, so they reject ERR_CONN_CLOSED and reach no Zig
    // memory). Skipping them would leave the queue full, and it reschedules itself for ever.
    if (this.engine.freed) return fn();
    const nested = this.inBatch;
    this.inBatch = true;
    try {
      fn();
    } finally {
      this.inBatch = nested;
    }
    if (!nested) this.engine.flushAll();
  }

  // ---- addresses --------------------------------------------------------------------------------

  connAddr(conn: NativeConn, which: 0 | 1): string {
    const n = this.api.zg_conn_addr(this.engine.handle, this.index, conn.slot, conn.generation, which, this.scratch, this.scratch.length);
    const text = n > 0 ? this.scratch.toString('latin1', 0, n) : '';
    if (conn.network === 'unix') return which === 0 && text === '' ? this.engine.unixAddrOf(conn) : `unix://${text}`;
    return `${conn.network}://${text}`;
  }

  /** A connected UDP conn's write: one datagram, sent now (gnet: send(), no outbound buffer). */
  sendDatagram(conn: NativeConn, data: Uint8Array | string): number {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    const r = this.api.zg_conn_write(this.engine.handle, this.index, conn.slot, conn.generation, bytes, bytes.length);
    // Refused (EAGAIN, EMSGSIZE, ECONNREFUSED): the datagram is dropped, the conn stays open.
    return r < 0 ? 0 : r;
  }

  datagramAddr(record: number): string {
    const n = this.api.zg_datagram_addr(this.engine.handle, this.index, record, this.scratch, this.scratch.length);
    return n > 0 ? `udp://${this.scratch.toString('latin1', 0, n)}` : '';
  }

  listenerFd(listener: number): number {
    return this.engine.loopListenerFd(this.index, listener);
  }

  // ---- EventLoop ------------------------------------------------------------------------------

  execute(fn: () => void): Promise<void> {
    return this.tasks.execute(fn, this.engine.isRunning());
  }

  load(): number {
    return this.openCount + this.dials.count;
  }

  register(protoAddr: string, context?: unknown, signal?: AbortSignal, tls?: DialTls): Promise<Conn> {
    return this.dials.register(protoAddr, context, signal, tls);
  }

  enroll(socket: net.Socket | dgram.Socket, context?: unknown): Promise<Conn> {
    return this.dials.enroll(socket, context);
  }

  /** Engine shutdown: dials still under way reject with ERR_ENGINE_IN_SHUTDOWN. */
  abandonRegistrations(): void {
    this.dials.abandonAll();
  }

  /** Every open conn (for shutdown). */
  openConns(): NativeConn[] {
    return this.conns.filter((c): c is NativeConn => c !== undefined && c.state === OPEN);
  }
}

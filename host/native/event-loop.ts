/**
 * One native event loop on the JS thread (design A: ARCHITECTURE.md, 'The batch'): its Zig poller's fd is
 * watched by `koffi.node.poll`; when it is readable, ONE FFI call drains every ready socket
 * into the record array, the handlers run, and ONE FFI call flushes what they asked for.
 * Writes outside a batch (asyncWrite, timers) join the same command array and are flushed on
 * the next microtask.
 */
import { isMainThread } from 'node:worker_threads';
import type { Conn } from '../api.js';
import { ErrorCode, withAddress, ZgnetError, type SystemError } from '../errors.js';
import { tlsConfigError, type DialTls } from '../tls/options.js';
import { configureDial, tlsInfo } from './tls.js';
import { abortError, type EngineLoop } from '../engine/base.js';
import { CLOSED, OPEN } from '../engine/conn.js';
import { adoptable, dialTarget, inShutdown, type Adoptable } from '../engine/dial.js';
import { TaskQueue } from '../engine/task-queue.js';
import type { ResolvedAddr } from '../address.js';
import type * as dgram from 'node:dgram';
import type * as net from 'node:net';
import { L, NETWORK_IDS, type EngineApi } from './binding.js';
import { NativeConn, UdpConn } from './conn.js';
import type { NativeEngine } from './engine.js';

/** Bytes of the per-loop arena that write() copies into; bigger writes go straight through. */
const ARENA_BYTES = 256 * 1024;
const DIRECT_WRITE_MIN = 64 * 1024;
/** Drains per poll callback when the previous one ran out of room. */
const DRAIN_ROUNDS_MAX = 8;
const REC = L.record_words;
const CMD = L.command_words;
const KIND = L.field_kind;
/** A command's words (layout.zig `CommandField`). */
const C_KIND = L.command_field_kind;
const C_SLOT = L.command_field_slot;
const C_GENERATION = L.command_field_generation;
const C_OFFSET = L.command_field_offset;
const C_LENGTH = L.command_field_length;
const C_SOURCE = L.command_field_source;

type PollHandle = { start(opts: object, cb: () => void): void; stop(): void; close(): void; ref(): void; unref(): void };

/** A dial or adoption waiting for its open record. */
interface Registration {
  generation: number;
  context: unknown;
  /** A dial's address, named by its error if it fails; null for an adoption. */
  target: ResolvedAddr | null;
  /** Bytes Node had read from an enrolled socket: delivered after onOpen. */
  early: Buffer | null;
  /** A TLS dial: c.tls is read at the open. */
  tls: boolean;
  resolve(c: Conn): void;
  reject(e: Error): void;
}

export class NativeLoop implements EngineLoop {
  readonly records: Int32Array;
  readonly area: Buffer;
  readonly commands: Int32Array;
  readonly arena: Buffer;
  readonly api: EngineApi;
  /** close, wake, execute: run in order on a later turn, each turn one batch. */
  readonly tasks: TaskQueue;
  cmdCount = 0;
  private arenaUsed = 0;
  /** A handler batch is running: its commands are flushed when it ends. */
  inBatch = false;
  private flushQueued = false;
  /** Conns whose asyncWrites wait for the flush to tell whether their bytes left at once. */
  private readonly sentChecks = new Set<NativeConn>();
  readonly conns: (NativeConn | undefined)[] = [];
  openCount = 0;
  /** Dials and adoptions whose onOpen has not run yet, by slot. */
  private readonly registering = new Map<number, Registration>();
  /**
   * Dials given up (aborted, or the engine stopped) whose close command may reach Zig after
   * their open record was drained (an abort inside a batch): that open is ignored. By slot.
   */
  private readonly abandoned = new Map<number, number>();
  /** Dials resolving their address and adoptions waiting for 'connect': they count for least-connections. */
  private preparing = 0;
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
  private readonly flushTask = () => {
    this.flushQueued = false;
    this.flushCommands();
  };

  constructor(
    readonly engine: NativeEngine,
    readonly index: number,
    readBufferCap: number,
  ) {
    this.api = engine.api;
    this.tasks = new TaskQueue((turn) => this.runTask(turn), engine.logger);
    // Off-heap memory (never moved by V8): Zig keeps these addresses until the engine is freed.
    this.records = new Int32Array(new ArrayBuffer((L.records_max + 1) * REC * 4));
    this.area = Buffer.allocUnsafeSlow(this.api.zg_engine_read_area_size(readBufferCap));
    this.commands = new Int32Array(new ArrayBuffer(L.commands_max * CMD * 4));
    this.arena = Buffer.allocUnsafeSlow(ARENA_BYTES);
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
    if (kind === L.record_data) {
      const conn = this.conns[slot];
      if (conn === undefined || conn.generation !== r[base + L.field_generation] || conn.state !== OPEN) return;
      conn.readRecord(r[base + L.field_offset]!, r[base + L.field_length]!, r[base + L.field_aux]! > 0, r[base + L.field_aux2]!);
      return;
    }
    if (kind === L.record_writable) {
      const conn = this.conns[slot];
      if (conn === undefined || conn.generation !== r[base + L.field_generation] || conn.state !== OPEN) return;
      conn.writableRecord(r[base + L.field_aux]!, r[base + L.field_aux2]!);
      return;
    }
    if (kind === L.record_end) {
      const conn = this.conns[slot];
      if (conn === undefined || conn.generation !== r[base + L.field_generation] || conn.state !== OPEN) return;
      conn.peerEnd();
      return;
    }
    if (kind === L.record_datagram) return this.datagram(i, slot, r[base + L.field_offset]!, r[base + L.field_length]!);
    if (kind === L.record_open) return this.open(slot, r[base + L.field_generation]!, r[base + L.field_aux]!, r[base + L.field_aux2]!);
    if (kind === L.record_close) {
      if (this.abandoned.get(slot) === r[base + L.field_generation]) return void this.abandoned.delete(slot);
      const pending = this.registering.get(slot);
      if (pending !== undefined && pending.generation === r[base + L.field_generation]) {
        // A dial that failed: no onOpen, so no onClose; the promise rejects.
        this.registering.delete(slot);
        this.command(L.command_close, slot, pending.generation, 0, 0, 0);
        const err = this.engine.closeError(r[base + L.field_aux]!, r[base + L.field_aux2]!, r[base + L.field_length]!);
        const system = 'syscall' in err;
        pending.reject(pending.target === null || !system ? err : withAddress(err as SystemError, pending.target));
        return;
      }
      const conn = this.conns[slot];
      if (conn === undefined || conn.generation !== r[base + L.field_generation] || conn.state !== OPEN) return;
      conn.closeWith(this.engine.closeError(r[base + L.field_aux]!, r[base + L.field_aux2]!, r[base + L.field_length]!));
    }
  }

  private open(slot: number, generation: number, fd: number, network: number): void {
    if (this.abandoned.get(slot) === generation) {
      this.abandoned.delete(slot); // its close command is queued already
      return;
    }
    // A new Conn per connection, never the slot's previous one: a handler may keep a Conn past
    // its onClose (a proxy's peer), and its writes must fail there, not reach whoever is next.
    const conn = new NativeConn(this, slot, generation, fd, network === 2 ? 'unix' : network === 1 ? 'udp' : 'tcp');
    this.conns[slot] = conn;
    const pending = this.registering.get(slot);
    if (pending !== undefined && pending.generation === generation) {
      this.registering.delete(slot);
      conn.context = pending.context;
    }
    const accepted = pending === undefined || pending.generation !== generation;
    if (accepted ? this.engine.servesTls : pending.tls) conn.setTls(tlsInfo(this.api, this.engine.handle, this.index, slot, generation));
    if (!this.engine.isRunning() || (accepted && !this.engine.admit(this.index))) {
      // Accepted (or dialled) while shutting down, or over maxConnections: nobody serves it.
      conn.state = CLOSED;
      this.command(L.command_close, slot, generation, 0, 0, 0);
      if (pending !== undefined && pending.generation === generation) pending.reject(inShutdown());
      return;
    }
    this.openCount++;
    this.engine.countConn(this.index, 1);
    this.engine.counters.opened(this.index, accepted);
    conn.open();
    if (pending === undefined || pending.generation !== generation) return;
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

  /** After onClose: Zig flushes what is queued (bounded), then closes the socket. */
  closeCommand(conn: NativeConn): void {
    this.command(L.command_close, conn.slot, conn.generation, 0, 0, 0);
  }

  /** c.end(): Zig shuts the write side once the outbound buffer is empty. */
  endCommand(conn: NativeConn): void {
    this.command(L.command_end, conn.slot, conn.generation, 0, 0, 0);
  }

  /** Stops or restarts reading the socket (pauseRead, the inbound high-water mark). */
  pauseCommand(conn: NativeConn, paused: boolean): void {
    this.command(paused ? L.command_pause_read : L.command_resume_read, conn.slot, conn.generation, 0, 0, 0);
  }

  /**
   * Asks for a writable record once the queue is at `lowMark` bytes or less (-1: no mark), or
   * once `sentTarget` bytes (mod 2^32) have left for the kernel (when `hasTarget`).
   */
  watchCommand(conn: NativeConn, lowMark: number, sentTarget: number, hasTarget: boolean): void {
    this.command(L.command_watch, conn.slot, conn.generation, lowMark, sentTarget, hasTarget ? 1 : 0);
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

  // ---- commands -------------------------------------------------------------------------------

  private command(kind: number, slot: number, generation: number, offset: number, length: number, source: number): void {
    if (this.cmdCount === L.commands_max) this.flushCommands();
    const c = this.commands;
    const base = this.cmdCount * CMD;
    c[base + C_KIND] = kind;
    c[base + C_SLOT] = slot;
    c[base + C_GENERATION] = generation;
    c[base + C_OFFSET] = offset;
    c[base + C_LENGTH] = length;
    c[base + C_SOURCE] = source;
    this.cmdCount++;
    this.dirty();
  }

  private dirty(): void {
    this.engine.markDirty(this);
    if (!this.inBatch && !this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(this.flushTask);
    }
  }

  /** A write command; consecutive writes of one conn over adjacent bytes become one. */
  private writeCommand(conn: NativeConn, offset: number, length: number, source: number): void {
    const n = this.cmdCount;
    if (n > 0) {
      const c = this.commands;
      const last = (n - 1) * CMD;
      if (
        c[last + C_KIND] === L.command_write && c[last + C_SLOT] === conn.slot && c[last + C_GENERATION] === conn.generation &&
        c[last + C_SOURCE] === source && c[last + C_OFFSET]! + c[last + C_LENGTH]! === offset
      ) {
        c[last + C_LENGTH] = c[last + C_LENGTH]! + length;
        return;
      }
    }
    this.command(L.command_write, conn.slot, conn.generation, offset, length, source);
  }

  writeBytes(conn: NativeConn, data: Uint8Array): number {
    const length = data.length;
    if (length === 0) return 0;
    // A view of the bytes just read: the area is untouched until the next drain, and this
    // batch is flushed before that, so it is written without a copy.
    if (this.inBatch && data.buffer === this.area.buffer) {
      this.writeCommand(conn, data.byteOffset - this.area.byteOffset, length, L.command_source_area);
      return length;
    }
    if (length >= DIRECT_WRITE_MIN) {
      this.flushCommands();
      const r = this.api.zg_conn_write(this.engine.handle, this.index, conn.slot, conn.generation, data, length);
      if (r >= 0) return length;
      conn.writeFailed(); // its close record follows; until then it is not writable
      return 0;
    }
    this.arenaRoom(length);
    const offset = this.arenaUsed;
    this.arena.set(data, offset);
    this.arenaUsed = offset + length;
    this.writeCommand(conn, offset, length, L.command_source_arena);
    return length;
  }

  writeString(conn: NativeConn, text: string): number {
    if (text.length === 0) return 0;
    // Worst case 3 bytes per UTF-16 unit; short strings are encoded straight into the arena.
    if (text.length * 3 < DIRECT_WRITE_MIN) {
      this.arenaRoom(text.length * 3);
      const offset = this.arenaUsed;
      const length = this.arena.write(text, offset);
      this.arenaUsed = offset + length;
      this.writeCommand(conn, offset, length, L.command_source_arena);
      return length;
    }
    return this.writeBytes(conn, Buffer.from(text));
  }

  /**
   * Room for `length` arena bytes AND the command that names them. A full command array
   * flushes too, and a flush empties the arena: were that to happen after the bytes were
   * copied in, their command would point at arena bytes the next writes overwrite.
   */
  private arenaRoom(length: number): void {
    if (this.arenaUsed + length > this.arena.length || this.cmdCount === L.commands_max) this.flushCommands();
  }

  keep(conn: NativeConn, offset: number, length: number): void {
    this.command(L.command_keep, conn.slot, conn.generation, offset, length, L.command_source_area);
  }

  /**
   * Bytes Node read from an enrolled socket before the engine had it: into the conn's ring
   * (through the arena), ahead of anything the engine reads, for the onTraffic after onOpen.
   */
  private keepEarly(conn: NativeConn, bytes: Buffer): void {
    for (let at = 0; at < bytes.length; at += this.arena.length) {
      const piece = bytes.subarray(at, at + this.arena.length);
      this.arenaRoom(piece.length);
      const offset = this.arenaUsed;
      this.arena.set(piece, offset);
      this.arenaUsed = offset + piece.length;
      this.command(L.command_keep, conn.slot, conn.generation, offset, piece.length, L.command_source_arena);
      conn.ringBytes += piece.length;
    }
  }

  /** Runs the queued commands now (one FFI call). */
  flushCommands(): void {
    const count = this.cmdCount;
    if (count !== 0) {
      this.cmdCount = 0;
      this.arenaUsed = 0;
      const draining = this.api.zg_loop_flush(this.engine.handle, this.index, count);
      if (draining < 0) this.engine.logger.error(`flush refused: ${this.engine.binding.zg_status_name(draining)}`);
      else if (draining > 0) this.engine.watchDraining();
    }
    if (this.sentChecks.size !== 0) {
      const conns = [...this.sentChecks];
      this.sentChecks.clear();
      for (const conn of conns) conn.flushed();
    }
  }

  /** `conn` has asyncWrites waiting: after the next flush, it checks whether their bytes left. */
  checkSentAfterFlush(conn: NativeConn): void {
    this.sentChecks.add(conn);
    this.dirty();
  }

  /** Bytes in a connection's outbound buffer, asked of Zig (flush first). */
  outboundOf(conn: NativeConn): number {
    return Math.max(0, this.api.zg_conn_outbound(this.engine.handle, this.index, conn.slot, conn.generation));
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
    return this.openCount + this.registering.size + this.preparing;
  }

  /** gnet's EventLoop.Register: dials from this loop; resolves once onOpen ran. */
  async register(protoAddr: string, context?: unknown, signal?: AbortSignal, tls?: DialTls): Promise<Conn> {
    this.preparing++;
    let target: ResolvedAddr;
    try {
      target = await dialTarget(protoAddr, () => this.engine.isRunning(), signal);
    } finally {
      this.preparing--;
    }
    const host = Buffer.from(target.network === 'unix' ? target.path : target.host);
    if (tls !== undefined && target.network === 'udp') throw tlsConfigError('tls dials tcp and unix addresses; udp has no TLS');
    const slot = this.api.zg_loop_register(this.engine.handle, this.index, NETWORK_IDS[target.network], host, host.length, target.port);
    if (slot < 0) throw this.engine.statusError(slot);
    if (tls !== undefined) {
      try {
        configureDial(this.api, this.engine.handle, this.index, slot, this.records[L.header_generation]!, tls, target.network === 'unix' ? '' : target.host);
      } catch (err) {
        this.command(L.command_close, slot, this.records[L.header_generation]!, 0, 0, 0);
        throw err;
      }
    }
    return this.awaitOpen(slot, context, signal, null, target, tls !== undefined);
  }

  /** gnet's EventLoop.Enroll: adopts a copy of a connected socket (the original is closed). */
  async enroll(socket: net.Socket | dgram.Socket, context?: unknown): Promise<Conn> {
    this.preparing++;
    let adopted: Adoptable;
    try {
      adopted = await adoptable(socket, () => this.engine.isRunning());
    } finally {
      this.preparing--;
    }
    const fd = socketFd(adopted);
    if (fd === undefined) throw new ZgnetError(ErrorCode.INVALID_NET_CONN, 'the socket has no file descriptor');
    const slot = this.api.zg_loop_enroll(this.engine.handle, this.index, fd, NETWORK_IDS[adopted.network]);
    if (slot < 0) throw this.engine.statusError(slot);
    // The dup serves from the kernel's queue on: what Node read already is handed over too.
    let early: Buffer | null = null;
    if (adopted.kind === 'stream' && adopted.socket.readableLength > 0) early = adopted.socket.read() as Buffer | null;
    const opened = this.awaitOpen(slot, context, undefined, early, null);
    if (adopted.kind === 'datagram') adopted.socket.close();
    else adopted.socket.destroy();
    return opened;
  }

  private awaitOpen(
    slot: number, context: unknown, signal: AbortSignal | undefined, early: Buffer | null, target: ResolvedAddr | null, tls = false,
  ): Promise<Conn> {
    const generation = this.records[L.header_generation]!;
    this.abandoned.delete(slot);
    return new Promise<Conn>((resolve, reject) => {
      const registration: Registration = { generation, context, target, early, tls, resolve, reject };
      if (signal !== undefined) {
        const onAbort = () => {
          if (this.registering.get(slot) !== registration) return;
          this.abandon(slot, registration);
          reject(abortError(signal));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        registration.resolve = (c) => {
          signal.removeEventListener('abort', onAbort);
          resolve(c);
        };
        registration.reject = (e) => {
          signal.removeEventListener('abort', onAbort);
          reject(e);
        };
      }
      this.registering.set(slot, registration);
    });
  }

  /** Gives up a dial before its onOpen: its socket is closed, a late open record ignored. */
  private abandon(slot: number, registration: Registration): void {
    this.registering.delete(slot);
    this.abandoned.set(slot, registration.generation);
    this.command(L.command_close, slot, registration.generation, 0, 0, 0);
  }

  /** Engine shutdown: dials still under way reject with ERR_ENGINE_IN_SHUTDOWN. */
  abandonRegistrations(): void {
    for (const [slot, registration] of [...this.registering]) {
      this.abandon(slot, registration);
      registration.reject(inShutdown());
    }
  }

  /** Every open conn (for shutdown). */
  openConns(): NativeConn[] {
    return this.conns.filter((c): c is NativeConn => c !== undefined && c.state === OPEN);
  }
}

/** The fd behind a Node socket: its libuv handle's (net.Socket `_handle`, dgram's state symbol). */
function socketFd(adopted: Adoptable): number | undefined {
  let handle: { fd?: number } | null | undefined;
  if (adopted.kind === 'stream') {
    handle = (adopted.socket as unknown as { _handle?: { fd?: number } | null })._handle;
  } else {
    const socket = adopted.socket as unknown as Record<symbol, { handle?: { fd?: number } } | undefined>;
    const state = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
    handle = state === undefined ? undefined : socket[state]?.handle;
  }
  return handle !== undefined && handle !== null && typeof handle.fd === 'number' && handle.fd >= 0 ? handle.fd : undefined;
}

/**
 * One native event loop on the JS thread (design A, shared/DESIGN.md): its Zig poller's fd is
 * watched by `koffi.node.poll`; when it is readable, ONE FFI call drains every ready socket
 * into the record array, the handlers run, and ONE FFI call flushes what they asked for.
 * Writes outside a batch (asyncWrite, timers) join the same command array and are flushed on
 * the next microtask.
 */
import { Action, type Conn, type EventHandler, type EventLoop } from '../api.js';
import { ErrorCode, ZgnetError } from '../errors.js';
import { invoke } from '../engine/invoke.js';
import type dgram from 'node:dgram';
import net from 'node:net';
import { parseProtoAddr, resolveAddress } from '../address.js';
import { L, NETWORK_IDS, type EngineApi } from './binding.js';
import { CLOSED, CLOSING, NativeConn, OPEN, UdpConn } from './conn.js';
import type { NativeEngine } from './engine.js';

/** Bytes of the per-loop arena that write() copies into; bigger writes go straight through. */
const ARENA_BYTES = 256 * 1024;
const DIRECT_WRITE_MIN = 64 * 1024;
/** Drains per poll callback when the previous one ran out of room. */
const DRAIN_ROUNDS_MAX = 8;
const REC = L.record_words;
const CMD = L.command_words;
const KIND = L.field_kind;
/** Marks a handler that threw (its exception is in `lastThrown`). */
const RETHROW = Symbol('threw');

type PollHandle = { start(opts: object, cb: () => void): void; stop(): void; close(): void; ref(): void; unref(): void };

export class NativeLoop implements EventLoop {
  readonly records: Int32Array;
  readonly area: Buffer;
  readonly commands: Int32Array;
  readonly arena: Buffer;
  readonly api: EngineApi;
  private readonly handler: EventHandler;
  cmdCount = 0;
  private arenaUsed = 0;
  /** A handler batch is running: its commands are flushed when it ends. */
  inBatch = false;
  private flushQueued = false;
  private flushWaiters: (() => void)[] = [];
  readonly conns: (NativeConn | undefined)[] = [];
  openCount = 0;
  /** Dials and adoptions whose onOpen has not run yet, by slot. */
  private readonly registering = new Map<number, { generation: number; context: unknown; resolve: (c: Conn) => void; reject: (e: Error) => void }>();
  private poll: PollHandle | undefined;
  private scratch = Buffer.allocUnsafe(256);
  private readonly onReadable = () => this.drainAll();
  private lastThrown: unknown = undefined;
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
    this.handler = engine.handler;
    // Off-heap memory (never moved by V8): Zig keeps these addresses until the engine is freed.
    this.records = new Int32Array(new ArrayBuffer((L.records_max + 1) * REC * 4));
    this.area = Buffer.allocUnsafeSlow(this.api.readAreaSize(readBufferCap));
    this.commands = new Int32Array(new ArrayBuffer(L.commands_max * CMD * 4));
    this.arena = Buffer.allocUnsafeSlow(ARENA_BYTES);
    const r = this.api.loopAttach(
      engine.handle, index, this.records, this.records.length, this.area, this.area.length,
      this.commands, this.commands.length, this.arena, this.arena.length,
    );
    engine.check(r, 'attach');
  }

  // ---- polling --------------------------------------------------------------------------------

  startPolling(): void {
    const fd = this.engine.check(this.api.loopFd(this.engine.handle, this.index), 'epoll');
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
      const count = api.drain(this.engine.handle, this.index);
      if (count < 0) {
        this.engine.logger.error(`drain failed: ${this.engine.binding.statusName(count)}`);
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
      if (acceptErrno !== 0) {
        this.engine.acceptFailed(acceptErrno);
        return;
      }
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
      conn.receive(r[base + L.field_offset]!, r[base + L.field_length]!, r[base + L.field_aux]!);
      this.traffic(conn);
      if (conn.hasChunk) conn.spill();
      return;
    }
    if (kind === L.record_datagram) return this.datagram(i, slot, r[base + L.field_offset]!, r[base + L.field_length]!);
    if (kind === L.record_open) return this.open(slot, r[base + L.field_generation]!, r[base + L.field_aux]!, r[base + L.field_aux2]!);
    if (kind === L.record_close) {
      const pending = this.registering.get(slot);
      if (pending !== undefined && pending.generation === r[base + L.field_generation]) {
        // A dial that failed: no onOpen, so no onClose; the promise rejects.
        this.registering.delete(slot);
        this.command(L.command_close, slot, pending.generation, 0, 0, 0);
        pending.reject(this.engine.closeError(r[base + L.field_aux]!, r[base + L.field_aux2]!));
        return;
      }
      const conn = this.conns[slot];
      if (conn === undefined || conn.generation !== r[base + L.field_generation] || conn.state !== OPEN) return;
      this.closeConn(conn, this.engine.closeError(r[base + L.field_aux]!, r[base + L.field_aux2]!));
    }
  }

  private open(slot: number, generation: number, fd: number, network: number): void {
    let conn = this.conns[slot];
    if (conn === undefined) {
      conn = new NativeConn(this, slot);
      this.conns[slot] = conn;
    }
    conn.reset(generation, fd, network === 2 ? 'unix' : network === 1 ? 'udp' : 'tcp');
    const pending = this.registering.get(slot);
    if (pending !== undefined && pending.generation === generation) {
      this.registering.delete(slot);
      conn.context = pending.context;
    }
    if (!this.engine.isRunning()) {
      // Accepted while shutting down: nobody serves it.
      conn.state = CLOSED;
      this.command(L.command_close, slot, generation, 0, 0, 0);
      return;
    }
    this.openCount++;
    this.engine.connCount++;
    const h = this.handler;
    if (h.onOpen !== undefined) {
      const outcome = invoke(this.engine.logger, 'onOpen', () => h.onOpen!(conn));
      if (outcome.error !== null) this.closeConn(conn, outcome.error);
      else if (outcome.action !== Action.None) this.apply(conn, outcome.action);
    }
    if (pending !== undefined && pending.generation === generation) pending.resolve(conn);
  }

  /** onTraffic with what the conn has buffered. */
  traffic(conn: NativeConn): void {
    const h = this.handler;
    if (h.onTraffic === undefined) return;
    // The hot path: no closure per message; anything unusual goes through invoke().
    let result: unknown;
    try {
      result = h.onTraffic(conn);
    } catch (thrown) {
      this.lastThrown = thrown;
      result = RETHROW;
    }
    if (result === undefined || result === Action.None) return;
    // A throw or a returned object (a Promise): invoke() logs and interprets what we caught.
    if (result === RETHROW || (typeof result === 'object' && result !== null)) return this.trafficOutcome(conn, result);
    if (result === Action.Close || result === Action.Shutdown) this.apply(conn, result);
  }

  private trafficOutcome(conn: NativeConn, result: unknown): void {
    const outcome = invoke(this.engine.logger, 'onTraffic', () => {
      if (result === RETHROW) throw this.lastThrown;
      return result;
    });
    if (outcome.error !== null) this.closeConn(conn, outcome.error);
    else if (outcome.action !== Action.None) this.apply(conn, outcome.action);
  }

  private apply(conn: NativeConn, action: Action): void {
    if (action === Action.Close) this.closeConn(conn, null);
    else if (action === Action.Shutdown) this.engine.shutdownFromLoop(this.index);
  }

  /** gnet's close: onClose (writes made there still go out), then the socket closes. */
  closeConn(conn: NativeConn, err: Error | null): void {
    if (conn.state !== OPEN) return;
    conn.state = CLOSING;
    conn.spill();
    conn.cacheAddrs();
    this.openCount--;
    this.engine.connCount--;
    const h = this.handler;
    const outcome = h.onClose === undefined ? null : invoke(this.engine.logger, 'onClose', () => h.onClose!(conn, err));
    conn.state = CLOSED;
    conn.context = undefined;
    conn.dropInbound();
    this.command(L.command_close, conn.slot, conn.generation, 0, 0, 0);
    conn.closedNow();
    if (outcome !== null && outcome.error === null && outcome.action === Action.Shutdown) this.engine.shutdownFromLoop(this.index);
  }

  private datagram(record: number, listener: number, offset: number, length: number): void {
    const h = this.handler;
    if (h.onTraffic === undefined || !this.engine.isRunning()) return;
    // One conn per datagram, as gnet: it may be kept (asyncWrite replies after the callback).
    const c = new UdpConn(this);
    c.begin(record, listener, offset, length);
    try {
      const outcome = invoke(this.engine.logger, 'onTraffic', () => h.onTraffic!(c));
      if (outcome.error === null && outcome.action === Action.Shutdown) this.engine.shutdownFromLoop(this.index);
    } finally {
      c.finish();
    }
  }

  /** Runs `fn` as a batch (its writes flushed when it ends), outside a drain. */
  runTask(fn: () => void): void {
    if (this.engine.freed) return;
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
    c[base] = kind;
    c[base + 1] = slot;
    c[base + 2] = generation;
    c[base + 3] = offset;
    c[base + 4] = length;
    c[base + L.command_field_source] = source;
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
        c[last] === L.command_write && c[last + 1] === conn.slot && c[last + 2] === conn.generation &&
        c[last + L.command_field_source] === source && c[last + 3]! + c[last + 4]! === offset
      ) {
        c[last + 4] = c[last + 4]! + length;
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
      const r = this.api.connWrite(this.engine.handle, this.index, conn.slot, conn.generation, data, length);
      return r < 0 ? 0 : length;
    }
    if (this.arenaUsed + length > this.arena.length) this.flushCommands();
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
      if (this.arenaUsed + text.length * 3 > this.arena.length) this.flushCommands();
      const offset = this.arenaUsed;
      const length = this.arena.write(text, offset);
      this.arenaUsed = offset + length;
      this.writeCommand(conn, offset, length, L.command_source_arena);
      return length;
    }
    return this.writeBytes(conn, Buffer.from(text));
  }

  keep(conn: NativeConn, offset: number, length: number): void {
    this.command(L.command_keep, conn.slot, conn.generation, offset, length, 0);
  }

  /** Runs the queued commands now (one FFI call). */
  flushCommands(): void {
    const count = this.cmdCount;
    if (count !== 0) {
      this.cmdCount = 0;
      this.arenaUsed = 0;
      const draining = this.api.flush(this.engine.handle, this.index, count);
      if (draining < 0) this.engine.logger.error(`flush refused: ${this.engine.binding.statusName(draining)}`);
      else if (draining > 0) this.engine.watchDraining();
    }
    const waiters = this.flushWaiters;
    if (waiters.length !== 0) {
      this.flushWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  /** Resolves once the commands queued so far have been flushed. */
  afterFlush(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.flushWaiters.push(resolve);
      this.dirty();
    });
  }

  // ---- addresses --------------------------------------------------------------------------------

  connAddr(conn: NativeConn, which: 0 | 1): string {
    const n = this.api.connAddr(this.engine.handle, this.index, conn.slot, conn.generation, which, this.scratch, this.scratch.length);
    const text = n > 0 ? this.scratch.toString('latin1', 0, n) : '';
    if (conn.network === 'unix') return which === 0 && text === '' ? this.engine.unixAddrOf(conn) : `unix://${text}`;
    return `tcp://${text}`;
  }

  datagramAddr(record: number): string {
    const n = this.api.datagramAddr(this.engine.handle, this.index, record, this.scratch, this.scratch.length);
    return n > 0 ? `udp://${this.scratch.toString('latin1', 0, n)}` : '';
  }

  listenerFd(listener: number): number {
    return this.engine.loopListenerFd(this.index, listener);
  }

  listenerSpec(listener: number): number {
    return this.engine.loopListenerSpec(this.index, listener);
  }

  // ---- EventLoop ------------------------------------------------------------------------------

  execute(fn: () => void): Promise<void> {
    if (!this.engine.isRunning()) return Promise.reject(new ZgnetError(ErrorCode.ENGINE_IN_SHUTDOWN));
    if (typeof fn !== 'function') return Promise.reject(new ZgnetError(ErrorCode.INVALID_ARGUMENT, 'execute() takes a function'));
    return new Promise<void>((resolve, reject) => {
      setImmediate(() => {
        try {
          this.runTask(fn);
          resolve();
        } catch (err) {
          reject(err);
        }
      });
    });
  }

  /** gnet's EventLoop.Register: dials from this loop; resolves once onOpen ran. */
  async register(protoAddr: string, context?: unknown): Promise<Conn> {
    if (!this.engine.isRunning()) throw new ZgnetError(ErrorCode.ENGINE_IN_SHUTDOWN);
    const target = await resolveAddress(parseProtoAddr(protoAddr));
    if (!this.engine.isRunning()) throw new ZgnetError(ErrorCode.ENGINE_IN_SHUTDOWN);
    const host = Buffer.from(target.network === 'unix' ? target.path : target.host);
    const slot = this.api.loopRegister(this.engine.handle, this.index, NETWORK_IDS[target.network], host, host.length, target.port);
    if (slot < 0) throw this.engine.statusError(slot);
    return this.awaitOpen(slot, context);
  }

  /** gnet's EventLoop.Enroll: adopts a copy of a connected socket (the original is closed). */
  async enroll(socket: net.Socket | dgram.Socket, context?: unknown): Promise<Conn> {
    if (!this.engine.isRunning()) throw new ZgnetError(ErrorCode.ENGINE_IN_SHUTDOWN);
    const found = socketFd(socket);
    if (found === undefined) throw new ZgnetError(ErrorCode.INVALID_NET_CONN, 'enroll() takes a connected net.Socket or dgram.Socket');
    const slot = this.api.loopEnroll(this.engine.handle, this.index, found.fd, NETWORK_IDS[found.network]);
    if (slot < 0) throw this.engine.statusError(slot);
    const opened = this.awaitOpen(slot, context);
    if (found.network === 'udp') (socket as dgram.Socket).close();
    else (socket as net.Socket).destroy();
    return opened;
  }

  private awaitOpen(slot: number, context: unknown): Promise<Conn> {
    const generation = this.records[L.header_generation]!;
    return new Promise<Conn>((resolve, reject) => {
      this.registering.set(slot, { generation, context, resolve, reject });
    });
  }

  /** Every open conn (for shutdown). */
  openConns(): NativeConn[] {
    return this.conns.filter((c): c is NativeConn => c !== undefined && c.state === OPEN);
  }
}

/** The fd behind a Node socket (libuv's handle), and what kind of socket it is. */
function socketFd(socket: unknown): { fd: number; network: 'tcp' | 'udp' | 'unix' } | undefined {
  if (socket instanceof net.Socket) {
    const handle = (socket as unknown as { _handle?: { fd?: number; constructor: { name: string } } })._handle;
    if (handle === undefined || handle === null || typeof handle.fd !== 'number' || handle.fd < 0) return undefined;
    return { fd: handle.fd, network: handle.constructor.name === 'Pipe' ? 'unix' : 'tcp' };
  }
  if (socket !== null && typeof socket === 'object') {
    const state = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
    const handle = state === undefined ? undefined : (socket as Record<symbol, { handle?: { fd?: number } }>)[state]?.handle;
    if (handle !== undefined && typeof handle.fd === 'number' && handle.fd >= 0) return { fd: handle.fd, network: 'udp' };
  }
  return undefined;
}

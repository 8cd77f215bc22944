/**
 * The command half of a native loop: what handlers ask of Zig (write, keep, close, end, pause,
 * watch) is appended to the loop's command array and run by ONE FFI call per batch
 * (`zg_loop_flush`); the Zig side is zig-src/engine/commands.zig. Short writes are copied into
 * the loop's arena and named by offset; a view of the read area is named without a copy; long
 * writes go straight to Zig. Outside a batch (asyncWrite, timers) the flush runs on the next
 * microtask.
 */
import { L, type EngineApi } from './binding.js';
import type { NativeConn } from './conn.js';
import type { NativeEngine } from './engine.js';

/** Bytes of the per-loop arena that write() copies into; bigger writes go straight through. */
const ARENA_BYTES = 256 * 1024;
const DIRECT_WRITE_MIN = 64 * 1024;
/** stage()'s answer for bytes too long for the arena: they go to Zig directly. */
export const DIRECT = -1;
const CMD = L.command_words;
/** A command's words (layout.zig `CommandField`). */
const C_KIND = L.command_field_kind;
const C_SLOT = L.command_field_slot;
const C_GENERATION = L.command_field_generation;
const C_OFFSET = L.command_field_offset;
const C_LENGTH = L.command_field_length;
const C_SOURCE = L.command_field_source;

export abstract class LoopCommands {
  readonly api: EngineApi;
  readonly commands: Int32Array;
  readonly arena: Buffer;
  cmdCount = 0;
  private arenaUsed = 0;
  /** Where stage() put the bytes it named. */
  private stagedOffset = 0;
  /** A handler batch is running: its commands are flushed when it ends. */
  inBatch = false;
  private flushQueued = false;
  /** Conns whose asyncWrites wait for the flush to tell whether their bytes left at once. */
  private readonly sentChecks = new Set<NativeConn>();
  private readonly flushTask = () => {
    this.flushQueued = false;
    this.flushCommands();
  };

  constructor(
    readonly engine: NativeEngine,
    readonly index: number,
    /** The loop's read area: a chunk handed to onTraffic is a view of it. */
    readonly area: Buffer,
  ) {
    this.api = engine.api;
    // Off-heap memory (never moved by V8): Zig keeps these addresses until the engine is freed.
    this.commands = new Int32Array(new ArrayBuffer(L.commands_max * CMD * 4));
    this.arena = Buffer.allocUnsafeSlow(ARENA_BYTES);
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

  /** Closes a socket no Conn stands for (a dial given up, a connection nobody serves). */
  closeSlot(slot: number, generation: number): void {
    this.command(L.command_close, slot, generation, 0, 0, 0);
  }

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
    const source = this.stage(data);
    if (source !== DIRECT) {
      this.writeCommand(conn, this.stagedOffset, length, source);
      return length;
    }
    this.flushCommands();
    const r = this.api.zg_conn_write(this.engine.handle, this.index, conn.slot, conn.generation, data, length);
    if (r >= 0) return length;
    conn.writeFailed(); // its close record follows; until then it is not writable
    return 0;
  }

  writeString(conn: NativeConn, text: string): number {
    if (text.length === 0) return 0;
    const length = this.stageString(text);
    if (length === DIRECT) return this.writeBytes(conn, Buffer.from(text));
    this.writeCommand(conn, this.stagedOffset, length, L.command_source_arena);
    return length;
  }

  /**
   * A datagram to the sender of this drain's record `record`, queued: a run of replies leaves
   * in one sendmmsg when the batch is flushed (before the next drain rewrites the records).
   * Returns the datagram's length, or DIRECT when it is too long for the arena: the caller then
   * flushes and sends it now.
   */
  replyCommand(record: number, data: Uint8Array | string): number {
    if (typeof data === 'string') {
      const length = this.stageString(data);
      if (length !== DIRECT) this.command(L.command_reply, record, 0, this.stagedOffset, length, L.command_source_arena);
      return length;
    }
    const source = this.stage(data);
    if (source !== DIRECT) this.command(L.command_reply, record, 0, this.stagedOffset, data.length, source);
    return source === DIRECT ? DIRECT : data.length;
  }

  /**
   * Names `data` for a command (its offset in `stagedOffset`; returns the source): a view of
   * the bytes just read as it is (the area is untouched until the next drain, and this batch
   * is flushed before that), short bytes copied into the arena; DIRECT for long ones.
   */
  private stage(data: Uint8Array): number {
    if (this.inBatch && data.buffer === this.area.buffer) {
      this.stagedOffset = data.byteOffset - this.area.byteOffset;
      return L.command_source_area;
    }
    if (data.length >= DIRECT_WRITE_MIN) return DIRECT;
    this.arenaRoom(data.length);
    this.stagedOffset = this.arenaUsed;
    this.arena.set(data, this.arenaUsed);
    this.arenaUsed += data.length;
    return L.command_source_arena;
  }

  /** `text` encoded into the arena (offset in `stagedOffset`): its length, or DIRECT when long. */
  private stageString(text: string): number {
    // Worst case 3 bytes per UTF-16 unit; short strings are encoded straight into the arena.
    if (text.length * 3 >= DIRECT_WRITE_MIN) return DIRECT;
    this.arenaRoom(text.length * 3);
    this.stagedOffset = this.arenaUsed;
    const length = this.arena.write(text, this.arenaUsed);
    this.arenaUsed += length;
    return length;
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
  protected keepEarly(conn: NativeConn, bytes: Buffer): void {
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
}

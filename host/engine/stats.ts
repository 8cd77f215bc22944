/**
 * `engine.stats()`, written once for both engines: each loop keeps its counters in one row of a
 * Float64Array (exact integers up to 2^53 bytes). The array may live in a SharedArrayBuffer:
 * with loops on threads of their own (host/multicore/thread-engine.ts) every thread writes its
 * own loop's row and any thread reads every row. A row is written by one thread only, so plain
 * stores suffice (an aligned 8-byte store is never torn on the platforms Node runs on).
 *
 * Loops in other processes (host/multicore/process-engine.ts) report their row by message; the
 * main process keeps those rows apart (`report`) and adds them in.
 */
import type { EngineStats, LoopStats } from '../api.js';

const CONNECTIONS = 0;
const ACCEPTED = 1;
const CLOSED = 2;
const SHED = 3;
const READ = 4;
/** Bytes written by connections that have closed, and by datagrams (sent at once). */
const WRITTEN = 5;
export const STATS_FIELDS = 6;

/** One connection still open, as the snapshot sums what it has written so far. */
export interface WritingConn {
  readonly eventLoop: { readonly index: number };
  readonly bytesWritten: number;
}

export class StatsBook {
  readonly cells: Float64Array;
  /** Rows reported by loops in other processes; added in by `snapshot`. */
  private readonly reported: Float64Array;

  constructor(
    readonly loopCount: number,
    shared?: SharedArrayBuffer,
  ) {
    this.cells = shared === undefined ? new Float64Array(loopCount * STATS_FIELDS) : new Float64Array(shared);
    this.reported = new Float64Array(loopCount * STATS_FIELDS);
  }

  /** A buffer for `loopCount` loops' rows that threads can share. */
  static sharedBuffer(loopCount: number): SharedArrayBuffer {
    return new SharedArrayBuffer(8 * STATS_FIELDS * loopCount);
  }

  /** A connection opened on `loop` (onOpen is next); `accepted`: a listener's, not a dial or an adoption. */
  opened(loop: number, accepted: boolean): void {
    const row = loop * STATS_FIELDS;
    this.cells[row + CONNECTIONS]! += 1;
    if (accepted) this.cells[row + ACCEPTED]! += 1;
  }

  /** A connection of `loop` closed (after its onClose) having written `bytesWritten` bytes. */
  closed(loop: number, bytesWritten: number): void {
    const row = loop * STATS_FIELDS;
    this.cells[row + CONNECTIONS]! -= 1;
    this.cells[row + CLOSED]! += 1;
    this.cells[row + WRITTEN]! += bytesWritten;
  }

  /** `count` connections were accepted and closed at once (maxConnections, out of fds). */
  shed(loop: number, count: number): void {
    this.cells[loop * STATS_FIELDS + SHED]! += count;
  }

  /** `bytes` were delivered to a handler on `loop` (a read, a datagram). */
  read(loop: number, bytes: number): void {
    this.cells[loop * STATS_FIELDS + READ]! += bytes;
  }

  /** A datagram of `bytes` left on `loop` (UDP has no queue: it is counted at once). */
  wrote(loop: number, bytes: number): void {
    this.cells[loop * STATS_FIELDS + WRITTEN]! += bytes;
  }

  /** Loop `loop`, served in another process, reported its counters (that process's `stats()`). */
  report(loop: number, s: EngineStats): void {
    if (loop < 0 || loop >= this.loopCount) return;
    const row = loop * STATS_FIELDS;
    this.reported[row + CONNECTIONS] = s.connections;
    this.reported[row + ACCEPTED] = s.accepted;
    this.reported[row + CLOSED] = s.closed;
    this.reported[row + SHED] = s.shed;
    this.reported[row + READ] = s.bytesRead;
    this.reported[row + WRITTEN] = s.bytesWritten;
  }

  /** The counters now: each loop's row, plus what its open connections (`open`) have written. */
  snapshot(open: Iterable<WritingConn>): EngineStats {
    const live = new Float64Array(this.loopCount);
    for (const c of open) {
      const index = c.eventLoop.index;
      if (index >= 0 && index < this.loopCount) live[index]! += c.bytesWritten;
    }
    const loops: LoopStats[] = [];
    const total: EngineStats = { connections: 0, accepted: 0, closed: 0, shed: 0, bytesRead: 0, bytesWritten: 0, loops };
    for (let i = 0; i < this.loopCount; i++) {
      const at = (field: number) => this.cells[i * STATS_FIELDS + field]! + this.reported[i * STATS_FIELDS + field]!;
      const loop: LoopStats = { connections: at(CONNECTIONS), bytesRead: at(READ), bytesWritten: at(WRITTEN) + live[i]! };
      loops.push(loop);
      total.connections += loop.connections;
      total.accepted += at(ACCEPTED);
      total.closed += at(CLOSED);
      total.shed += at(SHED);
      total.bytesRead += loop.bytesRead;
      total.bytesWritten += loop.bytesWritten;
    }
    return total;
  }
}

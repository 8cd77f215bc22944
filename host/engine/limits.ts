/**
 * The engine-wide limits of issue "Hostile peers and full machines", the same in both modes:
 * idle connections closed after a timeout, and a rate-limited log line for what an engine
 * sheds (connections over `maxConnections`, accepts that failed for lack of fds).
 */
import type { Logger } from '../api.js';

/** One line per window at most: the first event at once, then a count of the ones after. */
export class RateLimitedLog {
  private suppressed = 0;
  private windowEnd = 0;

  constructor(
    private readonly logger: Logger,
    private readonly level: 'warn' | 'error',
    private readonly windowMs = 5000,
  ) {}

  note(message: () => string): void {
    const now = Date.now();
    if (now < this.windowEnd) {
      this.suppressed++;
      return;
    }
    const more = this.suppressed > 0 ? ` (and ${this.suppressed} more in the last ${this.windowMs / 1000} s)` : '';
    this.suppressed = 0;
    this.windowEnd = now + this.windowMs;
    this.logger[this.level](`${message()}${more}`);
  }
}

/** What the idle sweep needs of a connection. */
export interface IdleMember {
  /** 0: no idle timeout. */
  idleTimeoutMs: number;
  /** `IdleSweeper.now` when its last inbound bytes arrived (or when it opened). */
  lastActive: number;
  /** Closes it with ERR_IDLE_TIMEOUT, on its loop. */
  expire(): void;
}

/**
 * Closes connections idle for longer than their timeout. One timer per engine, started when
 * the first timeout is set, sweeping every quarter of the shortest timeout (25 ms to 1 s):
 * a connection closes between its timeout and its timeout plus two sweeps (the clock is
 * coarse: never early). A connection marks
 * itself active with one property read (`now`), nothing per message beyond that.
 */
export class IdleSweeper {
  /**
   * Milliseconds since the sweeper was made (not since 1970): small enough for V8 to keep each
   * connection's `lastActive` as a small integer in the object, not as a 16-byte boxed double.
   */
  private readonly origin = Date.now();
  /** A coarse clock, updated at each sweep (fixed while the sweeper is off). */
  now = 0;
  private timer: NodeJS.Timeout | undefined;
  private intervalMs = 0;

  constructor(private readonly members: () => Iterable<IdleMember>) {}

  /** A connection got a timeout of `ms`: sweep often enough for it. */
  want(ms: number): void {
    if (ms <= 0) return;
    const interval = Math.min(1000, Math.max(25, Math.floor(ms / 4)));
    if (this.timer !== undefined && interval >= this.intervalMs) return;
    this.stop();
    this.intervalMs = interval;
    this.now = Date.now() - this.origin;
    this.timer = setInterval(() => this.sweep(), interval);
    this.timer.unref();
  }

  private sweep(): void {
    const now = (this.now = Date.now() - this.origin);
    for (const m of this.members()) {
      if (m.idleTimeoutMs > 0 && now - m.lastActive >= m.idleTimeoutMs + this.intervalMs) m.expire();
    }
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}

/**
 * Accepted TLS handshakes that failed (a plain-text client, a malformed ClientHello, a refused
 * client certificate, a stall past handshakeTimeoutMs), as both engines report them: never
 * seen by the handler, counted, and logged as a warning at most once per window with the
 * count of the ones suppressed.
 */
import type { Logger } from '../api.js';
import { RateLimitedLog } from '../engine/limits.js';

export class HandshakeFailures {
  /** Every failure so far (the engines expose it as `tlsHandshakeFailures`). */
  count = 0;
  /** A loop's worker (host/multicore/) tells the main side of each count it adds. */
  onCounted: ((failures: number) => void) | undefined;
  private readonly log: RateLimitedLog;

  constructor(logger: Logger) {
    this.log = new RateLimitedLog(logger, 'warn');
  }

  /** `failures` handshakes on `listenerAddr` failed, the last one from `from` (or unknown) for `reason`. */
  failed(listenerAddr: string, from: string | undefined, reason: string, failures = 1): void {
    const peer = from === undefined ? '' : ` from ${from}`;
    for (let i = 0; i < failures; i++) {
      this.count++;
      this.log.note(() => `${listenerAddr}: TLS handshake${peer} failed (${this.count} so far): ${reason}`);
    }
    this.onCounted?.(failures);
  }

  /** `failures` more failed on a loop of another thread or process, which logged them. */
  reported(failures: number): void {
    this.count += failures;
  }
}

/**
 * Bounds for everything that waits: a deadline around a promise, a deferred value, and a
 * counter whose `wait(n)` settles when it reaches n. Deadlines only turn a hang into a clear
 * failure; no test asserts how fast anything is.
 */

/** Rejects with `what` when `promise` has not settled within `ms`. */
export function within<T>(what: string, ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
    // A deadline alone must not keep a finished (or failed) test file alive.
    timer.unref();
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(err: unknown): void;
  settled: boolean;
}

export function deferred<T = void>(): Deferred<T> {
  const d = { settled: false } as Deferred<T>;
  d.promise = new Promise<T>((resolve, reject) => {
    d.resolve = (v) => {
      d.settled = true;
      resolve(v);
    };
    d.reject = (e) => {
      d.settled = true;
      reject(e);
    };
  });
  // A deferred nobody awaits must not become an unhandled rejection.
  d.promise.catch(() => {});
  return d;
}

/** Counts events; `wait(n)` resolves once the count has reached n. */
export class Counter {
  value = 0;
  private waiters: Array<{ n: number; resolve: () => void }> = [];

  constructor(readonly name: string) {}

  inc(by = 1): void {
    this.value += by;
    this.waiters = this.waiters.filter((w) => {
      if (this.value < w.n) return true;
      w.resolve();
      return false;
    });
  }

  wait(n: number, ms = 10_000): Promise<void> {
    if (this.value >= n) return Promise.resolve();
    const reached = new Promise<void>((resolve) => this.waiters.push({ n, resolve }));
    return within(`${this.name} reaching ${n} (at ${this.value})`, ms, reached);
  }
}

/** Polls `predicate` on every turn of the event loop (and at least every 5 ms) until true. */
export async function until(what: string, predicate: () => boolean, ms = 10_000): Promise<void> {
  const started = Date.now();
  while (!predicate()) {
    if (Date.now() - started > ms) throw new Error(`${what}: still false after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Lets pending I/O and timers run for `ms`; used only to give a wrong behaviour the chance to show. */
export function settle(ms = 50): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

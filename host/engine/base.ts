/**
 * The engine's lifecycle, common to the native and the fallback engine: bind, onBoot, start
 * the loops and the ticker, and the shutdown flow of gnet:
 *   - `Shutdown` returned by a connection callback: that loop's connections close first
 *     (onClose, err null), then onShutdown, then every other connection, then the listeners;
 *   - `engine.stop()`, an aborted `signal`, or `Shutdown` from onTick: onShutdown first, then
 *     every connection, then the listeners.
 * `run()` resolves when all of that is done.
 *
 * A client (`options.client`, host/client.ts) is the same engine started with no address:
 * onBoot's action is ignored, onBoot/onShutdown see gnet's listener-less Engine (no count,
 * no dup), and shutdown closes every connection before onShutdown (Client.stop, host/client.ts).
 */
import { Action, type Conn, type Engine, type EngineStats, type EventHandler, type EventLoop, type ListenerAddress, type Logger, type Network, type TickResult } from '../api.js';
import { addressParts, type ResolvedAddr } from '../address.js';
import type { Mode } from '../core/binding.js';
import { ErrorCode, ZgnetError } from '../errors.js';
import type { ResolvedOptions } from '../options.js';
import { invoke } from './invoke.js';
import { IdleSweeper, RateLimitedLog, type IdleMember } from './limits.js';
import type { DialTls } from '../tls/options.js';
import type { NodeAbortSignal } from '../node-types.js';
import { StatsBook, type WritingConn } from './stats.js';

export type EngineState = 'created' | 'booting' | 'running' | 'stopping' | 'stopped';

/** An engine's event loop as the engine and the client use it. */
export interface EngineLoop extends EventLoop {
  /** Open connections plus dials and adoptions under way: what least-connections compares. */
  load(): number;
  /**
   * `EventLoop.register`; `signal` (the client's dial) abandons the dial when aborted; `tls`
   * (the client's dial) handshakes before onOpen.
   */
  register(protoAddr: string, context?: unknown, signal?: NodeAbortSignal, tls?: DialTls): Promise<Conn>;
}

/** gnet waits 1 s when onTick returns nothing. */
const TICK_DEFAULT_MS = 1000;

export abstract class EngineBase implements Engine {
  abstract readonly mode: Mode;
  addrs: string[] = [];
  state: EngineState = 'created';
  readonly logger: Logger;
  private tickTimer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  private finished!: () => void;
  /** Settles when the engine has fully shut down. */
  readonly done: Promise<void> = new Promise((resolve) => (this.finished = resolve));
  private abortListener: (() => void) | undefined;
  /** engine.stop() was called while booting (inside onBoot): stop as soon as the loops have started. */
  private stopWhenStarted = false;
  /** What onBoot and onShutdown see: the engine, or a client's listener-less view of it. */
  private readonly view: Engine;
  /** Closes idle connections (`idleTimeoutMs`, `c.setIdleTimeout`). */
  readonly idle: IdleSweeper = new IdleSweeper(() => this.connections());
  private readonly shedLog: RateLimitedLog;
  /** Why the engine stopped on its own (a worker died): run() rejects with it. */
  failure: ZgnetError | undefined;
  /** engine.stats()'s counters, one row per loop (shared with loops' threads: host/native/engine.ts). */
  readonly counters: StatsBook;

  constructor(
    readonly handler: EventHandler,
    readonly options: ResolvedOptions,
  ) {
    this.logger = options.logger;
    this.view = options.client ? clientView(this) : this;
    this.shedLog = new RateLimitedLog(this.logger, 'warn');
    this.counters = this.makeStatsBook(options.numEventLoop);
  }

  /** engine.stats()'s book; the native engine shares it with its loops' threads. */
  protected makeStatsBook(loopCount: number): StatsBook {
    return new StatsBook(loopCount);
  }

  /** The counters now, any time (EngineStats in host/api.ts). */
  stats(): EngineStats {
    return this.counters.snapshot(this.connections() as Iterable<IdleMember & WritingConn>);
  }

  /** Every open connection of every loop (the idle sweep). */
  protected abstract connections(): Iterable<IdleMember>;

  /**
   * Whether a newly accepted connection may stay (`maxConnections`); the engine closes it at
   * once otherwise, before onOpen. Shed connections are logged at most once per 5 s.
   */
  admit(loopIndex = 0): boolean {
    const max = this.options.maxConnections;
    if (max === 0 || this.countConnections() < max) return true;
    this.counters.shed(loopIndex, 1);
    this.shedLog.note(() => `maxConnections (${max}) reached: a new connection was closed at once`);
    return false;
  }

  // ---- what each engine implements --------------------------------------------------------

  /** Binds every address; fills `addrs`. Throws a ZgnetError or a Node-shaped system error. */
  protected abstract listen(addrs: ResolvedAddr[]): Promise<void>;
  /** Starts accepting and serving. */
  protected abstract startLoops(): void;
  /** Closes the connections of one loop (or all when undefined); each gets onClose(c, null). */
  protected abstract closeConnections(loopIndex?: number): Promise<void>;
  /** Closes listeners and releases loops; after this no callback runs. */
  protected abstract closeListeners(): Promise<void>;
  abstract countConnections(): number;

  /** `addrs` in parts: each engine fills `addrs` with the bound (resolved) addresses. */
  addresses(): ListenerAddress[] {
    return this.addrs.map((addr) => {
      const network = addr.slice(0, addr.indexOf(':')) as Network;
      const { address, port } = addressParts(addr);
      if (network === 'unix') return { network, address: address ?? '', path: address ?? '' };
      return { network, address: address ?? '', port };
    });
  }
  abstract dup(): number;
  abstract dupListener(network: Network, addr: string): number;
  /** The event loops, once started. */
  abstract readonly loops: readonly EngineLoop[];

  // ---- lifecycle --------------------------------------------------------------------------

  /** Binds, boots and starts; resolves when started (or when onBoot asked for Shutdown). */
  async start(addrs: ResolvedAddr[]): Promise<void> {
    if (this.options.signal?.aborted) throw abortError(this.options.signal);
    this.state = 'booting';
    try {
      await this.listen(addrs);
    } catch (err) {
      // rotate(): the addresses bound before the one that failed must not stay bound.
      await this.closeListeners().catch((closeErr) => this.logger.error('closing listeners failed', closeErr));
      this.state = 'stopped';
      this.finished();
      throw err;
    }
    const boot = invoke(this.logger, 'onBoot', () => this.handler.onBoot?.(this.view));
    if (boot.error) {
      await this.closeListeners();
      this.state = 'stopped';
      this.finished();
      throw boot.error;
    }
    // gnet's Client.Start ignores what onBoot returns.
    if (boot.action === Action.Shutdown && !this.options.client) {
      // gnet: no loops start, no other callback runs, run() returns.
      await this.closeListeners();
      this.state = 'stopped';
      this.finished();
      return;
    }
    this.state = 'running';
    this.startLoops();
    this.idle.want(this.options.idleTimeoutMs);
    if (this.options.ticker && this.handler.onTick) this.scheduleTick(0, true);
    const signal = this.options.signal;
    if (signal) {
      this.abortListener = () => void this.shutdown('stop');
      signal.addEventListener('abort', this.abortListener, { once: true });
      // Aborted while binding or inside onBoot: the event has already fired.
      if (signal.aborted) void this.shutdown('stop');
    }
    if (this.stopWhenStarted) void this.shutdown('stop');
  }

  /**
   * engine.stop(): onShutdown, every onClose, listeners closed; then resolves. Once shut down
   * it rejects ERR_ENGINE_IN_SHUTDOWN; while a shutdown is under way it waits for it (gnet's
   * Stop validates, then waits for the shutdown it joined). Called inside onBoot, it stops the
   * engine right after boot, as an aborted `signal` does (onShutdown runs, run() resolves).
   */
  async stop(): Promise<void> {
    if (this.state === 'stopped') throw new ZgnetError(ErrorCode.ENGINE_IN_SHUTDOWN);
    if (this.state === 'stopping') return this.done;
    if (this.state === 'booting') {
      this.stopWhenStarted = true;
      return this.done;
    }
    if (this.state !== 'running') throw new ZgnetError(ErrorCode.EMPTY_ENGINE, 'the engine has not started');
    await this.shutdown('stop');
  }

  /**
   * Begins the shutdown flow once; later calls wait for the same end. `fromLoop` is the loop
   * whose callback returned Shutdown: its connections close before onShutdown, as in gnet.
   */
  shutdown(origin: 'stop' | 'action', fromLoop?: number): Promise<void> {
    if (this.state === 'stopping' || this.state === 'stopped') return this.done;
    this.state = 'stopping';
    this.clearTick();
    this.idle.stop();
    if (this.abortListener) this.options.signal?.removeEventListener('abort', this.abortListener);
    void this.runShutdown(origin, fromLoop);
    return this.done;
  }

  private async runShutdown(origin: 'stop' | 'action', fromLoop?: number): Promise<void> {
    try {
      if (this.options.client) {
        await this.closeConnections();
        invoke(this.logger, 'onShutdown', () => this.handler.onShutdown?.(this.view));
      } else {
        if (origin === 'action' && fromLoop !== undefined) await this.closeConnections(fromLoop);
        invoke(this.logger, 'onShutdown', () => this.handler.onShutdown?.(this.view));
        await this.closeConnections();
      }
      await this.closeListeners();
    } catch (err) {
      this.logger.error('shutdown failed', err);
    } finally {
      this.state = 'stopped';
      this.finished();
    }
  }

  /** Something the engine cannot go on without failed (a loop's worker died): log it, stop. */
  protected fail(err: ZgnetError): void {
    if (this.failure !== undefined) return;
    this.failure = err;
    this.logger.error(`${err.message}: stopping the engine`);
    void this.shutdown('stop');
  }

  // ---- ticker -----------------------------------------------------------------------------

  private scheduleTick(delayMs: number, first = false): void {
    const tick = () => {
      this.tickTimer = undefined;
      if (this.state !== 'running') return;
      let result: TickResult | void = undefined;
      const outcome = invoke(this.logger, 'onTick', () => {
        result = this.handler.onTick!();
        return result?.action;
      });
      if (outcome.error === null && outcome.action === Action.Shutdown) {
        void this.shutdown('stop');
        return;
      }
      const requested = (result as TickResult | void)?.delayMs;
      const next = typeof requested === 'number' && Number.isFinite(requested) && requested >= 0 ? requested : TICK_DEFAULT_MS;
      this.scheduleTick(next);
    };
    // gnet fires the first tick right after boot; delay 0 means the next turn, never synchronously.
    this.tickTimer = first || delayMs === 0 ? setImmediate(tick) : setTimeout(tick, delayMs);
  }

  private clearTick(): void {
    if (this.tickTimer === undefined) return;
    clearTimeout(this.tickTimer as NodeJS.Timeout);
    clearImmediate(this.tickTimer as NodeJS.Immediate);
    this.tickTimer = undefined;
  }

  protected ensureRunning(): void {
    if (this.state === 'stopping' || this.state === 'stopped') throw new ZgnetError(ErrorCode.ENGINE_IN_SHUTDOWN);
  }

  /**
   * gnet's least-connections, the client's balancer: the loop with strictly the fewest
   * connections, ties to the lowest index. Dials under way count, so that a burst of dials
   * issued together spreads before any of them has opened.
   */
  leastLoadedLoop(): EngineLoop {
    const loops = this.loops;
    if (loops.length === 0) throw new ZgnetError(ErrorCode.EMPTY_ENGINE, 'no event loop has started');
    let best = loops[0]!;
    let bestLoad = best.load();
    for (let i = 1; i < loops.length; i++) {
      const load = loops[i]!.load();
      if (load < bestLoad) {
        best = loops[i]!;
        bestLoad = load;
      }
    }
    return best;
  }
}

/**
 * The Engine a client's onBoot/onShutdown receive. gnet's client engine has no listeners, so
 * its Validate fails: CountConnections is -1 and Dup, DupListener and Stop return
 * ErrEmptyEngine. The client itself is stopped with `client.stop()`.
 */
function clientView(engine: EngineBase): Engine {
  const empty = () => new ZgnetError(ErrorCode.EMPTY_ENGINE, 'a client engine has no listeners');
  return Object.freeze({
    get mode() {
      return engine.mode;
    },
    addrs: Object.freeze([]) as unknown as string[],
    addresses: () => [],
    countConnections: () => -1,
    stats: () => engine.stats(),
    dup(): number {
      throw empty();
    },
    dupListener(_network: Network, _addr: string): number {
      throw empty();
    },
    stop: () => Promise.reject(empty()),
  });
}

/**
 * engine.dupListener's look-up, both engines: the listener of `network` bound at `addr`
 * (`tcp://127.0.0.1:9000` or `127.0.0.1:9000`; a unix path as given). gnet's error when none is.
 */
export function findListener(listeners: readonly { network: Network; addr: string; path?: string }[], network: Network, addr: string): number {
  const index = listeners.findIndex(
    (l) => l.network === network && (l.addr === addr || l.addr === `${network}://${addr}` || (l.network === 'unix' && l.path === addr)),
  );
  if (index < 0) throw new ZgnetError(ErrorCode.INVALID_NETWORK_ADDRESS, `no ${network} listener on ${addr}`);
  return index;
}

export function abortError(signal: NodeAbortSignal): Error {
  const err = new Error('The operation was aborted', { cause: signal.reason });
  err.name = 'AbortError';
  (err as Error & { code: string }).code = 'ABORT_ERR';
  return err;
}

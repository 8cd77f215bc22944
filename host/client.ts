/**
 * gnet's Client: the engine of the chosen mode started with no listener, its
 * loops serving connections it dials or adopts. Everything a connection does is the engines'
 * own machinery — `dial` is `EventLoop.register` and `enroll` is `EventLoop.enroll` on the loop
 * least-connections picks — so client conns are ordinary Conns in both modes.
 *
 *   const client = new Client(handler, { mode: 'native' });
 *   await client.start();                                   // onBoot, loops, ticker
 *   const c = await client.dial('tcp://127.0.0.1:9000');    // after onOpen ran
 *   await client.stop();                                    // every onClose, then onShutdown
 *
 * Where it differs from gnet: addresses use zgnet's `proto://addr` syntax (gnet's Dial takes
 * Go's network and address); `dial` takes an AbortSignal; `stop` runs every onClose before
 * onShutdown (gnet: onShutdown first) and may be called again (it waits for the same end).
 */
import type { ClientOptions, Conn, EventHandler, TlsDialOptions } from './api.js';
import type { Mode } from './core/binding.js';
import type { DgramSocket, NetSocket, NodeAbortSignal } from './node-types.js';
import { abortError, type EngineBase } from './engine/base.js';
import { ErrorCode, ZgnetError, invalidOption } from './errors.js';
import { resolveOptions, type ResolvedOptions } from './options.js';
import { createEngine } from './run.js';
import { resolveDialTls } from './tls/options.js';

/** The options of `client.dial()`. */
export interface DialOptions {
  /** Becomes `c.context` before onOpen runs. */
  context?: unknown;
  /** Aborting it before onOpen gives the dial up: the promise rejects with an AbortError. */
  signal?: NodeAbortSignal;
  /**
   * TLS over this connection (tcp or unix; `true`: the defaults): onOpen runs after the
   * handshake; a failed one rejects the dial with `ERR_TLS_HANDSHAKE`, a bad option with
   * `ERR_TLS_CONFIG` (docs/tls.md).
   */
  tls?: TlsDialOptions | boolean;
}

/** The options of `client.enroll()`. */
export interface EnrollOptions {
  /** Becomes `c.context` before onOpen runs. */
  context?: unknown;
}

/** Outbound connections with the event-handler model (gnet's Client); `Ctx` types `c.context`. */
export class Client<Ctx = unknown> {
  private readonly options: ResolvedOptions;
  private engine: EngineBase | undefined;
  private starting: Promise<void> | undefined;

  /** Validates the options now (gnet's NewClient): a bad one throws ERR_INVALID_OPTION. */
  constructor(
    private readonly handler: EventHandler<Ctx>,
    options?: ClientOptions,
  ) {
    if (typeof handler !== 'object' || handler === null) throw invalidOption('handler', 'must be an object');
    this.options = resolveOptions(options, [], true);
  }

  /** The engine's mode once started. */
  get mode(): Mode | undefined {
    return this.engine?.mode;
  }

  /**
   * Calls onBoot (its return value is ignored, as gnet's), starts the event loops and the
   * ticker. Rejects ERR_NATIVE_UNAVAILABLE for `mode: 'native'` where the library cannot load.
   */
  async start(): Promise<void> {
    if (this.engine !== undefined) {
      if (this.engine.state === 'stopping' || this.engine.state === 'stopped') throw new ZgnetError(ErrorCode.ENGINE_IN_SHUTDOWN);
      throw new ZgnetError(ErrorCode.UNSUPPORTED_OP, 'the client has already started');
    }
    const engine = createEngine(this.handler, this.options);
    this.engine = engine;
    this.starting = engine.start([]);
    await this.starting;
  }

  /**
   * Connects to `protoAddr` (`tcp://`, `unix://`, or `udp://`: a connected UDP socket, which
   * gets onOpen and onClose) on the loop with the fewest connections; resolves after onOpen
   * ran. A refused connection rejects with Node's system error (`code: 'ECONNREFUSED'`).
   */
  async dial(protoAddr: string, options: DialOptions = {}): Promise<Conn<Ctx>> {
    if (typeof options !== 'object' || options === null) throw invalidOption('dial options', 'must be an object');
    const signal = options.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalidOption('signal', 'must be an AbortSignal');
    const tls = resolveDialTls(options.tls);
    const engine = this.running();
    if (signal?.aborted) throw abortError(signal);
    return engine.leastLoadedLoop().register(protoAddr, options.context, signal, tls) as Promise<Conn<Ctx>>;
  }

  /**
   * Adopts a connected `net.Socket` (one still connecting is waited for) or a connected
   * `dgram.Socket`; resolves after onOpen ran. As gnet, the socket is the engine's from now
   * on: native mode serves a dup of its fd and destroys it, wasm mode takes it over.
   */
  async enroll(socket: NetSocket | DgramSocket, options: EnrollOptions = {}): Promise<Conn<Ctx>> {
    if (typeof options !== 'object' || options === null) throw invalidOption('enroll options', 'must be an object');
    return this.running().leastLoadedLoop().enroll(socket, options.context) as Promise<Conn<Ctx>>;
  }

  /**
   * Closes every connection (onClose with null for each), then calls onShutdown; resolves when
   * the engine is fully down. Calling it again, or after the client stopped on its own (an
   * aborted `signal`, a Shutdown action), waits for that same end.
   */
  async stop(): Promise<void> {
    const engine = this.engine;
    if (engine === undefined) throw new ZgnetError(ErrorCode.EMPTY_ENGINE, 'the client has not started');
    await this.starting?.catch(() => {}); // stopped while booting: once booted
    await engine.shutdown('stop');
  }

  private running(): EngineBase {
    const engine = this.engine;
    if (engine === undefined || engine.state === 'created' || engine.state === 'booting') {
      throw new ZgnetError(ErrorCode.EMPTY_ENGINE, 'the client has not started');
    }
    if (engine.state !== 'running') throw new ZgnetError(ErrorCode.ENGINE_IN_SHUTDOWN);
    return engine;
  }
}

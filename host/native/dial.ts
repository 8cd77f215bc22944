/**
 * A native loop's dials and adoptions (gnet's EventLoop.Register and Enroll): Zig opens the
 * socket (zig-src/engine/dial.zig) and the drain reports it with an open record, or a close
 * record when it failed; until then the promise waits here, by slot. A dial given up before
 * its open (aborted, or the engine stopping) is closed and its late records are ignored.
 */
import type { Conn } from '../api.js';
import { ErrorCode, withAddress, ZgnetError, type SystemError } from '../errors.js';
import { tlsConfigError, type DialTls } from '../tls/options.js';
import { configureDial } from './tls.js';
import { abortError } from '../engine/base.js';
import { adoptable, dialTarget, inShutdown, type Adoptable } from '../engine/dial.js';
import type { ResolvedAddr } from '../address.js';
import type * as dgram from 'node:dgram';
import type * as net from 'node:net';
import { L, NETWORK_IDS } from './binding.js';
import type { NativeLoop } from './event-loop.js';

/** A dial or adoption waiting for its open record. */
export interface Registration {
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

export class LoopDials {
  /** Dials and adoptions whose onOpen has not run yet, by slot. */
  private readonly registering = new Map<number, Registration>();
  /**
   * Dials given up (aborted, or the engine stopped) whose close command may reach Zig after
   * their open record was drained (an abort inside a batch): that open is ignored. By slot.
   */
  private readonly abandoned = new Map<number, number>();
  /** Dials resolving their address and adoptions waiting for 'connect': they count for least-connections. */
  private preparing = 0;

  constructor(private readonly loop: NativeLoop) {}

  /** Dials and adoptions under way, for least-connections. */
  get count(): number {
    return this.registering.size + this.preparing;
  }

  /** gnet's EventLoop.Register: dials from this loop; resolves once onOpen ran. */
  async register(protoAddr: string, context?: unknown, signal?: AbortSignal, tls?: DialTls): Promise<Conn> {
    const loop = this.loop;
    const engine = loop.engine;
    this.preparing++;
    let target: ResolvedAddr;
    try {
      target = await dialTarget(protoAddr, () => engine.isRunning(), signal);
    } finally {
      this.preparing--;
    }
    const host = Buffer.from(target.network === 'unix' ? target.path : target.host);
    if (tls !== undefined && target.network === 'udp') throw tlsConfigError('tls dials tcp and unix addresses; udp has no TLS');
    const slot = loop.api.zg_loop_register(engine.handle, loop.index, NETWORK_IDS[target.network], host, host.length, target.port);
    if (slot < 0) throw engine.statusError(slot);
    if (tls !== undefined) {
      const generation = loop.records[L.header_generation]!;
      try {
        configureDial(loop.api, engine.handle, loop.index, slot, generation, tls, target.network === 'unix' ? '' : target.host);
      } catch (err) {
        loop.closeSlot(slot, generation);
        throw err;
      }
    }
    return this.awaitOpen(slot, context, signal, null, target, tls !== undefined);
  }

  /** gnet's EventLoop.Enroll: adopts a copy of a connected socket (the original is closed). */
  async enroll(socket: net.Socket | dgram.Socket, context?: unknown): Promise<Conn> {
    const loop = this.loop;
    const engine = loop.engine;
    this.preparing++;
    let adopted: Adoptable;
    try {
      adopted = await adoptable(socket, () => engine.isRunning());
    } finally {
      this.preparing--;
    }
    const fd = socketFd(adopted);
    if (fd === undefined) throw new ZgnetError(ErrorCode.INVALID_NET_CONN, 'the socket has no file descriptor');
    const slot = loop.api.zg_loop_enroll(engine.handle, loop.index, fd, NETWORK_IDS[adopted.network]);
    if (slot < 0) throw engine.statusError(slot);
    // The dup serves from the kernel's queue on: what Node read already is handed over too.
    let early: Buffer | null = null;
    if (adopted.kind === 'stream' && adopted.socket.readableLength > 0) early = adopted.socket.read() as Buffer | null;
    const opened = this.awaitOpen(slot, context, undefined, early, null);
    if (adopted.kind === 'datagram') adopted.socket.close();
    else adopted.socket.destroy();
    return opened;
  }

  /** A record of a dial given up: true, and it is forgotten (its close command is queued already). */
  dropsAbandoned(slot: number, generation: number): boolean {
    if (this.abandoned.get(slot) !== generation) return false;
    this.abandoned.delete(slot);
    return true;
  }

  /** The dial or adoption that an open or close record of (slot, generation) settles, taken off the books. */
  claim(slot: number, generation: number): Registration | undefined {
    const pending = this.registering.get(slot);
    if (pending === undefined || pending.generation !== generation) return undefined;
    this.registering.delete(slot);
    return pending;
  }

  /** A dial whose close record came first: no onOpen, so no onClose; the promise rejects. */
  failed(slot: number, pending: Registration, err: Error): void {
    this.loop.closeSlot(slot, pending.generation);
    const system = 'syscall' in err;
    pending.reject(pending.target === null || !system ? err : withAddress(err as SystemError, pending.target));
  }

  /** Engine shutdown: dials still under way reject with ERR_ENGINE_IN_SHUTDOWN. */
  abandonAll(): void {
    for (const [slot, registration] of [...this.registering]) {
      this.abandon(slot, registration);
      registration.reject(inShutdown());
    }
  }

  private awaitOpen(
    slot: number, context: unknown, signal: AbortSignal | undefined, early: Buffer | null, target: ResolvedAddr | null, tls = false,
  ): Promise<Conn> {
    const generation = this.loop.records[L.header_generation]!;
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
    this.loop.closeSlot(slot, registration.generation);
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

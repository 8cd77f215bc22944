/**
 * A logical event loop. Node runs every socket on one thread, so a loop here is what gnet's
 * loop is to its users: a group of connections picked by the load balancer, with its own
 * connection count, and a task queue (host/engine/task-queue.ts) for the work that must wait
 * for the current callback to end — asyncWrite, wake, close, execute.
 */
import type * as dgram from 'node:dgram';
import type * as net from 'node:net';
import type { ResolvedAddr } from '../address.js';
import type { Conn, Logger } from '../api.js';
import type { EngineLoop } from '../engine/base.js';
import { adoptable, dialTarget, type Adoptable } from '../engine/dial.js';
import { TaskQueue } from '../engine/task-queue.js';
import type { DialTls } from '../tls/options.js';
import type { NodeConn } from './connection.js';

/** What a loop needs of its engine. */
export interface LoopOwner {
  readonly logger: Logger;
  isRunning(): boolean;
  /** Load-balancer bookkeeping when a connection joins (+1) or leaves (-1) a loop. */
  loopCountChanged(index: number, delta: 1 | -1): void;
  /** Connects to `target` and opens the connection on `loop` (onOpen ran when it resolves). */
  dial(loop: FallbackEventLoop, target: ResolvedAddr, context: unknown, signal: AbortSignal | undefined, tls: DialTls | undefined): Promise<Conn>;
  /** Takes over a connected socket and opens it on `loop`. */
  adopt(loop: FallbackEventLoop, adopted: Adoptable, context: unknown): Conn;
}


export class FallbackEventLoop implements EngineLoop {
  readonly conns = new Set<NodeConn>();
  /** Dials and adoptions under way: they count for least-connections before they open. */
  private dialing = 0;
  readonly tasks: TaskQueue;

  constructor(
    readonly index: number,
    private readonly owner: LoopOwner,
  ) {
    this.tasks = new TaskQueue((turn) => turn(), owner.logger);
  }

  add(c: NodeConn): void {
    this.conns.add(c);
    this.owner.loopCountChanged(this.index, 1);
  }

  remove(c: NodeConn): void {
    if (this.conns.delete(c)) this.owner.loopCountChanged(this.index, -1);
  }

  /** Closes every connection of this loop (engine shutdown); each gets onClose(c, null). */
  closeAll(): void {
    for (const c of [...this.conns]) c.closeWith(null);
  }

  execute(fn: () => void): Promise<void> {
    return this.tasks.execute(fn, this.owner.isRunning());
  }

  load(): number {
    return this.conns.size + this.dialing;
  }

  /** gnet's EventLoop.Register: dials and opens the connection on this loop; resolves after onOpen. */
  async register(protoAddr: string, context?: unknown, signal?: AbortSignal, tls?: DialTls): Promise<Conn> {
    this.dialing++;
    try {
      const target = await dialTarget(protoAddr, () => this.owner.isRunning(), signal);
      return await this.owner.dial(this, target, context, signal, tls);
    } finally {
      this.dialing--;
    }
  }

  /** gnet's EventLoop.Enroll: the engine takes the socket over (the caller must not use it after). */
  async enroll(socket: net.Socket | dgram.Socket, context?: unknown): Promise<Conn> {
    this.dialing++;
    try {
      const adopted = await adoptable(socket, () => this.owner.isRunning());
      return this.owner.adopt(this, adopted, context);
    } finally {
      this.dialing--;
    }
  }
}

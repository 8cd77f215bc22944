/**
 * A logical event loop. Node runs every socket on one thread, so a loop here is what gnet's
 * loop is to its users: a group of connections picked by the load balancer, with its own
 * connection count, and a task queue (gnet's trigger queue) for the work that must wait for
 * the current callback to end — asyncWrite, wake, close, execute.
 *
 * One FIFO per loop, drained on `setImmediate` so that I/O runs between rounds (a wake() that
 * wakes itself again must not starve the sockets). gnet's urgent/low split only reorders when
 * more than 1024 urgent tasks are queued, so a single FIFO keeps its observable order.
 */
import type dgram from 'node:dgram';
import type net from 'node:net';
import type { ResolvedAddr } from '../address.js';
import type { Conn, Logger } from '../api.js';
import type { EngineLoop } from '../engine/base.js';
import { adoptable, dialTarget, inShutdown, type Adoptable } from '../engine/dial.js';
import { ErrorCode, ZgnetError } from '../errors.js';
import { quiet } from './errors.js';

/** What a loop needs of its engine. */
export interface LoopOwner {
  readonly logger: Logger;
  isRunning(): boolean;
  /** Load-balancer bookkeeping when a connection joins (+1) or leaves (-1) a loop. */
  loopCountChanged(index: number, delta: 1 | -1): void;
  /** Connects to `target` and opens the connection on `loop` (onOpen ran when it resolves). */
  dial(loop: FallbackEventLoop, target: ResolvedAddr, context: unknown, signal: AbortSignal | undefined): Promise<Conn>;
  /** Takes over a connected socket and opens it on `loop`. */
  adopt(loop: FallbackEventLoop, adopted: Adoptable, context: unknown): Conn;
}

export interface LoopMember {
  /** Closes with onClose(c, null) (engine shutdown). */
  closeByEngine(): void;
}

export class FallbackEventLoop implements EngineLoop {
  readonly conns = new Set<LoopMember>();
  /** Dials and adoptions under way: they count for least-connections before they open. */
  private dialing = 0;
  private tasks: Array<() => void> = [];
  private scheduled = false;

  constructor(
    readonly index: number,
    private readonly owner: LoopOwner,
  ) {}

  /** Runs `task` on a later turn, after the tasks queued before it. */
  enqueue(task: () => void): void {
    this.tasks.push(task);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.drain);
    }
  }

  /** Runs the tasks queued so far; those they queue wait for the next round. */
  private readonly drain = (): void => {
    this.scheduled = false;
    const tasks = this.tasks;
    this.tasks = [];
    for (const task of tasks) {
      try {
        task();
      } catch (err) {
        this.owner.logger.error('event loop task failed', err);
      }
    }
  };

  add(c: LoopMember): void {
    this.conns.add(c);
    this.owner.loopCountChanged(this.index, 1);
  }

  remove(c: LoopMember): void {
    if (this.conns.delete(c)) this.owner.loopCountChanged(this.index, -1);
  }

  /** Closes every connection of this loop (engine shutdown); each gets onClose(c, null). */
  closeAll(): void {
    for (const c of [...this.conns]) c.closeByEngine();
  }

  execute(fn: () => void): Promise<void> {
    if (typeof fn !== 'function') {
      return Promise.reject(new ZgnetError(ErrorCode.INVALID_ARGUMENT, 'execute() takes a function'));
    }
    if (!this.owner.isRunning()) return Promise.reject(inShutdown());
    return quiet(
      new Promise<void>((resolve, reject) => {
        this.enqueue(() => {
          try {
            fn();
            resolve();
          } catch (err) {
            this.owner.logger.error('a function given to execute() threw', err);
            reject(err);
          }
        });
      }),
    );
  }

  load(): number {
    return this.conns.size + this.dialing;
  }

  /** gnet's EventLoop.Register: dials and opens the connection on this loop; resolves after onOpen. */
  async register(protoAddr: string, context?: unknown, signal?: AbortSignal): Promise<Conn> {
    this.dialing++;
    try {
      const target = await dialTarget(protoAddr, () => this.owner.isRunning(), signal);
      return await this.owner.dial(this, target, context, signal);
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

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
import type { Conn, EventLoop, Logger } from '../api.js';
import { ErrorCode, ZgnetError } from '../errors.js';
import { inShutdown, quiet } from './errors.js';

/** What a loop needs of its engine. */
export interface LoopOwner {
  readonly logger: Logger;
  isRunning(): boolean;
  /** Load-balancer bookkeeping when a connection joins (+1) or leaves (-1) a loop. */
  loopCountChanged(index: number, delta: 1 | -1): void;
}

export interface LoopMember {
  /** Closes with onClose(c, null) (engine shutdown). */
  closeByEngine(): void;
}

export class FallbackEventLoop implements EventLoop {
  readonly conns = new Set<LoopMember>();
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

  register(_protoAddr: string, _context?: unknown): Promise<Conn> {
    return Promise.reject(new ZgnetError(ErrorCode.UNSUPPORTED_OP, 'EventLoop.register is not implemented yet'));
  }

  enroll(_socket: net.Socket | dgram.Socket, _context?: unknown): Promise<Conn> {
    return Promise.reject(new ZgnetError(ErrorCode.UNSUPPORTED_OP, 'EventLoop.enroll is not implemented yet'));
  }
}

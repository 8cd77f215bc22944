/**
 * A loop's task queue (gnet's trigger queue), the same in both engines: the
 * work that must wait for the current callback to end — close, wake, execute, asyncWrite —
 * runs later on the loop, in the order it was queued.
 *
 * One FIFO per loop: gnet's urgent/low split only reorders when more than 1024 urgent tasks
 * are queued, so a single FIFO keeps its observable order. A turn runs at most
 * `TASKS_PER_TURN` tasks (gnet's `MaxAsyncTasksAtOneTime`, 256 on Linux), and never the tasks
 * queued during that turn, so that I/O runs between turns: a wake() that wakes itself again
 * cannot starve the sockets. A turn is one batch of the engine (`runBatch`): in native mode the
 * writes of all its tasks go out in one flush.
 */
import type { Logger } from '../api.js';
import { ErrorCode, invalidArgument, quiet, ZgnetError } from '../errors.js';

export const TASKS_PER_TURN = 256;

export type Task = () => void;

export class TaskQueue {
  private tasks: (Task | undefined)[] = [];
  private head = 0;
  private scheduled = false;

  constructor(
    /** Runs one turn's tasks as a batch of the engine. */
    private readonly runBatch: (turn: () => void) => void,
    private readonly logger: Logger,
  ) {}

  get length(): number {
    return this.tasks.length - this.head;
  }

  /** Runs `task` on a later turn, after the tasks queued before it. */
  enqueue(task: Task): void {
    this.tasks.push(task);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.turn);
  }

  private readonly turn = (): void => {
    this.scheduled = false;
    this.runBatch(this.runTurn);
    if (this.length > 0) this.schedule();
  };

  private readonly runTurn = (): void => {
    const tasks = this.tasks;
    const last = Math.min(tasks.length, this.head + TASKS_PER_TURN);
    while (this.head < last) {
      const task = tasks[this.head]!;
      tasks[this.head++] = undefined;
      try {
        task();
      } catch (err) {
        this.logger.error('event loop task failed', err);
      }
    }
    if (this.head === tasks.length) {
      tasks.length = 0;
      this.head = 0;
    }
  };

  /** EventLoop.execute: runs `fn` on the loop; rejects with what it threw. */
  execute(fn: () => void, running: boolean): Promise<void> {
    if (typeof fn !== 'function') return quiet(Promise.reject(invalidArgument('execute(fn)', 'must be a function', fn)));
    if (!running) return quiet(Promise.reject(new ZgnetError(ErrorCode.ENGINE_IN_SHUTDOWN)));
    return quiet(
      new Promise<void>((resolve, reject) => {
        this.enqueue(() => {
          try {
            fn();
            resolve();
          } catch (err) {
            this.logger.error('a function given to execute() threw', err);
            reject(err);
          }
        });
      }),
    );
  }
}

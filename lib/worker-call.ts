/**
 * Calls into a worker thread, with a deadline and a bound on calls waiting. For work whose cost a client decides
 * (a dry run of units it sends, over a cluster of any size): fleetd's event loop also keeps the machine's etcd
 * lease and the engine's leadership alive, so such work runs elsewhere, and a call that overruns its deadline
 * has its worker terminated instead of running on. A new worker is started for the next call; an idle worker
 * exits after `idleMs`. The engine's planner (engine/planner.ts) and the API's dry runs (api/plan.ts) both use it.
 */
import { parentPort, Worker, type TransferListItem } from 'node:worker_threads';
import { FleetError, errorMessage } from './errors.js';

/**
 * Glob matches (a wildcard Conflicts/Replaces glob against a unit name) that work may do on the event loop; above
 * this it goes to a worker. One match of a glob within lib/unit's bounds is at most a few thousand steps, so
 * inline work stays well under 100 ms.
 */
export const INLINE_GLOB_MATCHES = 10_000;

export class WorkerCallError extends FleetError {
  override readonly name: string = 'WorkerCallError';

  constructor(
    message: string,
    /** deadline: the call took too long and was stopped; busy: too many calls waiting; failed: the worker died or the call threw. */
    readonly kind: 'deadline' | 'busy' | 'failed',
    /** When the call itself threw in the worker: that error's message. */
    readonly detail?: string,
  ) {
    super(message);
  }
}

interface Request<Req> {
  readonly id: number;
  readonly req: Req;
}

type Reply<Res> = { readonly id: number; readonly res: Res } | { readonly id: number; readonly error: string };

export interface WorkerCallOptions {
  /** What the worker does, for error messages ("dry run"). */
  readonly what: string;
  /** A call not answered within this long terminates the worker and fails every call waiting on it (default: none). */
  readonly deadlineMs?: number;
  /** Calls sent and not yet answered; more are refused at once (kind "busy"). Default: no bound. */
  readonly maxPending?: number;
  /** An idle worker exits after this long (default 60 s; Infinity: it stays until close()). */
  readonly idleMs?: number;
}

interface Pending<Res> {
  resolve: (r: Res) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

export class WorkerCall<Req, Res> {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending<Res>>();
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly script: URL,
    private readonly opts: WorkerCallOptions,
  ) {}

  /** `transfer`: buffers of `req` moved to the worker instead of copied (unusable here afterwards). */
  call(req: Req, transfer: readonly TransferListItem[] = []): Promise<Res> {
    const maxPending = this.opts.maxPending ?? Infinity;
    if (this.pending.size >= maxPending) {
      return Promise.reject(new WorkerCallError(`too many ${this.opts.what}s in progress (at most ${maxPending}); try again later`, 'busy'));
    }
    clearTimeout(this.idleTimer);
    const worker = this.ensureWorker();
    const id = this.nextId++;
    const deadlineMs = this.opts.deadlineMs;
    return new Promise<Res>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      if (deadlineMs !== undefined) {
        timer = setTimeout(() => {
          this.stop(worker, new WorkerCallError(`the ${this.opts.what} took longer than ${deadlineMs} ms and was stopped`, 'deadline'));
        }, deadlineMs);
        timer.unref();
      }
      this.pending.set(id, { resolve, reject, timer });
      worker.ref(); // a call in flight keeps the process alive, an idle worker does not
      worker.postMessage({ id, req } satisfies Request<Req>, transfer);
    });
  }

  /** Fails the calls waiting and terminates the worker. */
  async close(): Promise<void> {
    clearTimeout(this.idleTimer);
    const w = this.worker;
    if (w) {
      this.stop(w, new WorkerCallError(`the ${this.opts.what} was cancelled: shutting down`, 'failed'));
      await w.terminate();
    }
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(this.script);
    w.on('message', (reply: Reply<Res>) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      clearTimeout(p.timer);
      if ('res' in reply) p.resolve(reply.res);
      else p.reject(new WorkerCallError(`the ${this.opts.what} failed: ${reply.error}`, 'failed', reply.error));
      if (this.pending.size === 0) w.unref();
      const idleMs = this.opts.idleMs ?? 60_000;
      if (this.pending.size === 0 && this.worker === w && Number.isFinite(idleMs)) {
        this.idleTimer = setTimeout(() => this.stop(w, undefined), idleMs);
        this.idleTimer.unref();
      }
    });
    w.on('error', (err) => this.stop(w, new WorkerCallError(`the ${this.opts.what} failed: ${err.message}`, 'failed')));
    w.on('exit', (code) => this.stop(w, new WorkerCallError(`the ${this.opts.what} worker exited (code ${code})`, 'failed')));
    // after the listeners (adding a 'message' listener refs the worker's port again: a process whose last dry run
    // went to the worker stayed alive until the idle timer stopped it, 60 s); call() refs it while a call is in flight
    w.unref();
    this.worker = w;
    return w;
  }

  /** Forgets the worker (terminating it) and fails what waits on it. */
  private stop(w: Worker, err: Error | undefined): void {
    if (this.worker !== w) return;
    this.worker = undefined;
    clearTimeout(this.idleTimer);
    void w.terminate();
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err ?? new WorkerCallError(`the ${this.opts.what} worker stopped`, 'failed'));
    }
    this.pending.clear();
  }
}

/** The worker side: answers each call with `handle` (a thrown error becomes the call's failure). */
export function serveWorkerCalls<Req, Res>(handle: (req: Req) => Res): void {
  const port = parentPort;
  if (!port) throw new FleetError('this module runs only as a worker thread');
  port.on('message', (msg: Request<Req>) => {
    let reply: Reply<Res>;
    try {
      reply = { id: msg.id, res: handle(msg.req) };
    } catch (err) {
      reply = { id: msg.id, error: errorMessage(err) };
    }
    port.postMessage(reply);
  });
}

/**
 * Watches what the cluster reports in etcd, independent of the code under test: when each unit got a target
 * machine (`job/<name>/target`) and when a machine published its state as launched / active
 * (`states/<name>/<machine>`). Timestamps are this process's clock (ms).
 */
import type { Etcd3, IKeyValue, Watcher } from 'etcd3';
import { Keyspace } from '../lib/registry/index.js';
import { BenchError } from './errors.js';

export interface UnitProgress {
  placedAt?: number;
  target?: string;
  /** first publication with agentState launched */
  launchedAt?: number;
  /** first publication with activeState active */
  activeAt?: number;
  launchedOn?: string;
}

interface PublishedState {
  readonly agentState?: string;
  readonly activeState?: string;
}

type Waiter = { readonly done: () => boolean; readonly resolve: () => void };

export class ClusterObserver {
  readonly units = new Map<string, UnitProgress>();
  private launched = 0;
  private active = 0;
  private readonly watchers: Watcher[] = [];
  private waiters: Waiter[] = [];
  readonly keys: Keyspace;

  private constructor(
    private readonly client: Etcd3,
    prefix?: string,
  ) {
    this.keys = new Keyspace(prefix);
  }

  static async start(client: Etcd3, prefix?: string): Promise<ClusterObserver> {
    const o = new ClusterObserver(client, prefix);
    await o.open();
    return o;
  }

  get launchedCount(): number {
    return this.launched;
  }

  get activeCount(): number {
    return this.active;
  }

  private entry(name: string): UnitProgress {
    let p = this.units.get(name);
    if (!p) this.units.set(name, (p = {}));
    return p;
  }

  private onKv(kv: IKeyValue, deleted: boolean): void {
    const key = kv.key.toString('utf8');
    const now = Date.now();
    const { statesDir, jobsDir } = this.keys;
    if (key.startsWith(statesDir)) {
      const [name, machine] = key.slice(statesDir.length).split('/');
      if (!name || !machine || deleted) return;
      let s: PublishedState;
      try {
        s = JSON.parse(kv.value.toString('utf8')) as PublishedState;
      } catch {
        return;
      }
      const p = this.entry(name);
      if (s.agentState === 'launched' && p.launchedAt === undefined) {
        p.launchedAt = now;
        p.launchedOn = machine;
        this.launched++;
      }
      if (s.activeState === 'active' && p.activeAt === undefined) {
        p.activeAt = now;
        this.active++;
      }
    } else if (key.startsWith(jobsDir) && key.endsWith('/target') && !deleted) {
      const name = key.slice(jobsDir.length, -'/target'.length);
      const p = this.entry(name);
      if (p.placedAt === undefined) p.placedAt = now;
      p.target = kv.value.toString('utf8');
    } else {
      return;
    }
    this.check();
  }

  private async open(): Promise<void> {
    for (const dir of [this.keys.statesDir, this.keys.jobsDir]) {
      const res = await this.client.getAll().prefix(dir).exec();
      for (const kv of res.kvs) this.onKv(kv, false);
      const w = await this.client
        .watch()
        .prefix(dir)
        .startRevision(String(BigInt(res.header.revision) + 1n))
        .create();
      w.on('put', (kv) => this.onKv(kv, false));
      w.on('delete', (kv) => this.onKv(kv, true));
      this.watchers.push(w);
    }
  }

  private check(): void {
    if (this.waiters.length === 0) return;
    this.waiters = this.waiters.filter((w) => {
      if (!w.done()) return true;
      w.resolve();
      return false;
    });
  }

  /** Resolves once `done()` holds (checked on every observed change), rejects after `timeoutMs`. */
  until(what: string, done: () => boolean, timeoutMs: number): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new BenchError(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const waiter: Waiter = {
        done,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      this.waiters.push(waiter);
    });
  }

  /** Forgets what it saw of these units (e.g. before reusing their names). */
  forget(names: Iterable<string>): void {
    for (const n of names) {
      const p = this.units.get(n);
      if (!p) continue;
      if (p.launchedAt !== undefined) this.launched--;
      if (p.activeAt !== undefined) this.active--;
      this.units.delete(n);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.watchers.map((w) => w.cancel().catch(() => undefined)));
    this.watchers.length = 0;
  }
}

/**
 * A small Prometheus registry rendered in the text exposition format (0.0.4). fleetd's components add their own
 * metrics through `counter`/`gauge`/`histogram`; the API records requests and registry operations itself.
 */
export type Labels = Readonly<Record<string, string>>;

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labelText(labels: Labels, extra?: [string, string]): string {
  const pairs = Object.entries(labels);
  if (extra) pairs.push(extra);
  if (pairs.length === 0) return '';
  return `{${pairs.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
}

function num(v: number): string {
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (Number.isNaN(v)) return 'NaN';
  return String(v);
}

const key = (labels: Labels): string => JSON.stringify(Object.entries(labels).sort());

interface Metric {
  readonly name: string;
  render(): string;
}

function readSample(fn: () => number): number {
  try {
    return fn();
  } catch {
    return NaN;
  }
}

export class Counter implements Metric {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  private sampler?: () => number;
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels: Labels = {}, by = 1): void {
    const k = key(labels);
    const cur = this.values.get(k);
    if (cur) cur.value += by;
    else this.values.set(k, { labels, value: by });
  }
  get(labels: Labels = {}): number {
    return this.values.get(key(labels))?.value ?? 0;
  }
  /** When set, read at render time (a component's own monotonic count) instead of stored values. */
  sample(fn: () => number): void {
    this.sampler = fn;
  }
  render(): string {
    let s = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} counter\n`;
    if (this.sampler) return s + `${this.name} ${num(readSample(this.sampler))}\n`;
    for (const { labels, value } of this.values.values()) s += `${this.name}${labelText(labels)} ${num(value)}\n`;
    return s;
  }
}

export class Gauge implements Metric {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  /** When set, read at render time instead of stored values. */
  private sampler?: () => number;
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  set(value: number, labels: Labels = {}): void {
    this.values.set(key(labels), { labels, value });
  }
  sample(fn: () => number): void {
    this.sampler = fn;
  }
  render(): string {
    let s = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} gauge\n`;
    if (this.sampler) return s + `${this.name} ${num(readSample(this.sampler))}\n`;
    for (const { labels, value } of this.values.values()) s += `${this.name}${labelText(labels)} ${num(value)}\n`;
    return s;
  }
}

export const DEFAULT_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class Histogram implements Metric {
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[] = DEFAULT_BUCKETS,
  ) {}
  observe(value: number, labels: Labels = {}): void {
    const k = key(labels);
    let s = this.series.get(k);
    if (!s) this.series.set(k, (s = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 }));
    this.buckets.forEach((b, i) => {
      if (value <= b) s!.counts[i]!++;
    });
    s.sum += value;
    s.count++;
  }
  count(labels: Labels = {}): number {
    return this.series.get(key(labels))?.count ?? 0;
  }
  render(): string {
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} histogram\n`;
    for (const s of this.series.values()) {
      this.buckets.forEach((b, i) => {
        out += `${this.name}_bucket${labelText(s.labels, ['le', num(b)])} ${s.counts[i]}\n`;
      });
      out += `${this.name}_bucket${labelText(s.labels, ['le', '+Inf'])} ${s.count}\n`;
      out += `${this.name}_sum${labelText(s.labels)} ${num(s.sum)}\n`;
      out += `${this.name}_count${labelText(s.labels)} ${s.count}\n`;
    }
    return out;
  }
}

export class MetricsRegistry {
  private readonly metrics = new Map<string, Metric>();

  private add<M extends Metric>(m: M): M {
    const existing = this.metrics.get(m.name);
    if (existing) {
      if (existing.constructor !== m.constructor) throw new Error(`metric ${m.name} is already registered with another type`);
      return existing as M;
    }
    this.metrics.set(m.name, m);
    return m;
  }

  counter(name: string, help: string): Counter {
    return this.add(new Counter(name, help));
  }
  gauge(name: string, help: string): Gauge {
    return this.add(new Gauge(name, help));
  }
  histogram(name: string, help: string, buckets?: readonly number[]): Histogram {
    return this.add(new Histogram(name, help, buckets));
  }

  render(): string {
    return [...this.metrics.values()].map((m) => m.render()).join('');
  }
}

/** The metrics the API server maintains (names follow fleet's `fleet_<subsystem>_...`). */
export class ApiMetrics {
  readonly registry = new MetricsRegistry();
  readonly requests = this.registry.counter('fleet_api_request_count_total', 'Counter of HTTP API requests by method, route and status code.');
  readonly requestDuration = this.registry.histogram('fleet_api_request_duration_second', 'Histogram of HTTP API request durations in seconds by route.');
  readonly registryOps = this.registry.counter('fleet_registry_operation_count_total', 'Counter of registry operations.');
  readonly registryFailures = this.registry.counter('fleet_registry_operation_failed_count_total', 'Counter of failed registry operations.');
  readonly registryDuration = this.registry.histogram('fleet_registry_operation_duration_second', 'Histogram of registry operation durations in seconds.');
  readonly leader = this.registry.gauge('fleet_engine_leader', '1 when this fleetd\'s engine is the cluster leader, else 0.');

  /** Records one registry operation (fleetd calls this for the registry operations of its other components). */
  registryOp(op: string, seconds: number, failed: boolean): void {
    this.registryOps.inc({ type: op });
    this.registryDuration.observe(seconds, { ops: op });
    if (failed) this.registryFailures.inc({ type: op });
  }

  /** Wraps an async registry call so it is counted and timed. */
  async timed<T>(op: string, fn: () => Promise<T>): Promise<T> {
    const t0 = process.hrtime.bigint();
    try {
      const r = await fn();
      this.registryOp(op, Number(process.hrtime.bigint() - t0) / 1e9, false);
      return r;
    } catch (err) {
      this.registryOp(op, Number(process.hrtime.bigint() - t0) / 1e9, true);
      throw err;
    }
  }
}

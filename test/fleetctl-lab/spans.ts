/**
 * Reading the samplers of the rolling lab tests (restart-lab, rollout-global-lab): each machine printed
 * `<ns> <systemctl is-active>` every 100 ms. Per machine, the spans from the first to the last sample of each run
 * of samples without the unit active; two spans of different machines that overlap are a time when both were
 * without it for certain.
 */
export interface Span {
  readonly machine: string;
  readonly from: bigint;
  readonly to: bigint;
}

export interface Spans {
  readonly spans: Span[];
  /** samples read, over all machines */
  readonly samples: number;
  /** `mA+mB` for every two machines seen without the unit at the same time */
  readonly overlaps: string[];
  /** the spans as `m1 0-1800` (ms from the first span's start), for a figure line */
  readonly described: string;
}

export function unavailableSpans(outputs: readonly { stdout: string }[], names: readonly string[]): Spans {
  const spans: Span[] = [];
  let samples = 0;
  outputs.forEach((o, i) => {
    let open: { from: bigint; to: bigint } | undefined;
    for (const line of o.stdout.trim().split('\n')) {
      const [ns, state] = line.split(' ');
      if (ns === undefined || state === undefined || !/^\d+$/.test(ns)) continue;
      samples++;
      const at = BigInt(ns);
      if (state !== 'active') open = open ? { ...open, to: at } : { from: at, to: at };
      else if (open) {
        spans.push({ machine: names[i]!, ...open });
        open = undefined;
      }
    }
    if (open) spans.push({ machine: names[i]!, ...open });
  });
  const overlaps = spans.flatMap((a) => spans.filter((b) => b.machine > a.machine && a.from <= b.to && b.from <= a.to).map((b) => `${a.machine}+${b.machine}`));
  const t0 = spans.reduce((m, x) => (x.from < m ? x.from : m), spans[0]?.from ?? 0n);
  const described = spans.map((x) => `${x.machine} ${(x.from - t0) / 1_000_000n}-${(x.to - t0) / 1_000_000n}`).join(', ');
  return { spans, samples, overlaps, described };
}

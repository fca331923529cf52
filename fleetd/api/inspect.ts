/**
 * `/units/{name}/status` and `/units/{name}/journal`: `systemctl status` and `journalctl` of a unit, run by the
 * fleetd of the machine hosting it. Another machine's fleetd forwards the request to that machine's TCP API
 * (its publicIP and this cluster's api_listen port, with this fleetd's token and client certificate), once.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Ctx } from './context.js';
import { ApiError, BusyError } from '../../lib/api/errors.js';
import { sendError } from './http.js';
import { EXIT_STATUS_HEADER, FORWARDED_HEADER, JOURNAL_OUTPUTS, type ApiMachine, type ApiUnit, type JournalRequest } from '../../lib/api/schema.js';
import type { StatusOutput, UnitInspector } from '../machine/inspector.js';
import { isGlobalOptions } from '../../lib/unit/lenient-requirements.js';
import type { Slots } from '../../lib/limit.js';

/** Journal streams (journalctl processes) one fleetd serves at once, follow or not; more get 503. */
export const MAX_JOURNAL_STREAMS = 16;
/** `systemctl status` processes one fleetd runs at once; more get 503. */
export const MAX_STATUS_PROCESSES = 16;

/** How a request is relayed to another machine's API. */
export interface PeerForwarder {
  /** Sends the request to `machine` and pipes the answer into `res`. */
  forward(machine: ApiMachine, path: string, req: IncomingMessage, res: ServerResponse): Promise<void>;
  /** Releases pooled connections (called by the server for the forwarder it created itself). */
  close?(): void;
}

export interface InspectDeps {
  machineId: string;
  inspector?: UnitInspector;
  forwarder?: PeerForwarder;
  /** Bounds on the local processes requests start (MAX_JOURNAL_STREAMS, MAX_STATUS_PROCESSES). */
  journalSlots: Slots;
  statusSlots: Slots;
}

async function targetMachine(c: Ctx, unit: ApiUnit): Promise<string> {
  const asked = c.query.get('machineID') ?? '';
  const global = isGlobalOptions(unit.name, unit.options);
  if (asked) {
    if (!global && unit.machineID && unit.machineID !== asked) {
      throw new ApiError(409, `unit ${unit.name} is scheduled to machine ${unit.machineID}, not ${asked}`);
    }
    return asked;
  }
  if (global) {
    const states = await c.backend.listUnitStates({ unitName: unit.name });
    const machines = [...new Set(states.map((s) => s.machineID).filter((m): m is string => !!m))];
    if (machines.length === 1) return machines[0]!;
    if (machines.length === 0) throw new ApiError(409, `global unit ${unit.name} is not loaded on any machine`);
    throw new ApiError(400, `global unit ${unit.name} runs on ${machines.length} machines: choose one with ?machineID=`);
  }
  if (!unit.machineID) throw new ApiError(409, `unit ${unit.name} is not scheduled to any machine`);
  return unit.machineID;
}

/** Serves locally when the unit is here; otherwise forwards (once) to the machine hosting it. */
async function route(c: Ctx, deps: InspectDeps, name: string, local: (inspector: UnitInspector) => Promise<void>): Promise<void> {
  const unit = await c.backend.getUnit(name);
  if (!unit) return sendError(c.res, 404, 'unit does not exist');
  const target = await targetMachine(c, unit);
  if (target === deps.machineId || (target.length === 8 && deps.machineId.startsWith(target))) {
    if (!deps.inspector) throw new ApiError(501, `fleetd on machine ${deps.machineId} cannot inspect units (no systemd access)`);
    return local(deps.inspector);
  }
  const forwardedBy = c.req.headers[FORWARDED_HEADER];
  if (forwardedBy) {
    throw new ApiError(502, `request forwarded by ${String(forwardedBy)} reached machine ${deps.machineId}, but unit ${name} is on ${target}`);
  }
  const machine = (await c.backend.listMachines()).find((m) => m.id === target || (target.length === 8 && m.id.startsWith(target)));
  if (!machine) throw new ApiError(502, `machine ${target} hosting unit ${name} is not in the cluster (not registered or its lease expired)`);
  if (!deps.forwarder) throw new ApiError(502, `unit ${name} is on machine ${machine.id}; this fleetd cannot forward requests to other machines`);
  const q = new URLSearchParams(c.query);
  q.set('machineID', machine.id);
  const path = `${(c.req.url ?? '').split('?', 1)[0]}?${q.toString()}`;
  await deps.forwarder.forward(machine, path, c.req, c.res);
}

export async function unitStatus(c: Ctx, deps: InspectDeps, name: string): Promise<void> {
  await route(c, deps, name, async (inspector) => {
    if (!deps.statusSlots.take()) throw new BusyError(`fleetd is busy: ${deps.statusSlots.limit} unit status requests are running; retry later`);
    let out: StatusOutput;
    try {
      out = await inspector.status(name);
    } finally {
      deps.statusSlots.give();
    }
    c.res.statusCode = 200;
    c.res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    c.res.setHeader(EXIT_STATUS_HEADER, String(out.exitCode));
    c.res.end(out.text);
  });
}

export function journalRequest(q: URLSearchParams): JournalRequest {
  const linesRaw = q.get('lines') ?? '10';
  if (!/^\d{1,9}$/.test(linesRaw)) throw new ApiError(400, `invalid lines ${JSON.stringify(linesRaw)}: expected a non-negative integer`);
  const followRaw = (q.get('follow') ?? 'false').toLowerCase();
  if (!['true', 'false', '1', '0', ''].includes(followRaw)) throw new ApiError(400, `invalid follow ${JSON.stringify(followRaw)}: expected true or false`);
  const output = q.get('output') || 'short';
  if (!JOURNAL_OUTPUTS.includes(output)) throw new ApiError(400, `invalid output ${JSON.stringify(output)}: expected one of ${JOURNAL_OUTPUTS.join(', ')}`);
  return { lines: Number(linesRaw), follow: followRaw === 'true' || followRaw === '1', output };
}

export async function unitJournal(c: Ctx, deps: InspectDeps, name: string): Promise<void> {
  const jr = journalRequest(c.query);
  await route(c, deps, name, async (inspector) => {
    if (!deps.journalSlots.take()) throw new BusyError(`fleetd is busy: ${deps.journalSlots.limit} journal streams are open; retry later`);
    try {
      await streamJournal(c, inspector, name, jr);
    } finally {
      deps.journalSlots.give();
    }
  });
}

/** Pipes one journal stream to the client; ends (and aborts the stream) when either side goes away. */
async function streamJournal(c: Ctx, inspector: UnitInspector, name: string, jr: JournalRequest): Promise<void> {
  const abort = new AbortController();
  const stream = inspector.journal(name, jr, abort.signal);
  c.res.statusCode = 200;
  c.res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  c.res.setHeader('Cache-Control', 'no-cache');
  c.res.flushHeaders();
  try {
    await new Promise<void>((resolve) => {
      stream.on('error', (err) => {
        c.res.end(`\n[fleetd: journal stream failed: ${err.message}]\n`);
        resolve();
      });
      stream.on('end', () => {
        c.res.end();
        resolve();
      });
      c.res.on('close', () => {
        stream.destroy();
        resolve();
      });
      stream.pipe(c.res, { end: false });
    });
  } finally {
    // Stops journalctl whichever side ended first (a client that went away, a failed stream).
    abort.abort();
  }
}

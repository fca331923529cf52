/** The cluster's network: a host bridge, and per machine a network namespace with a veth into the bridge. */
import { existsSync } from 'node:fs';
import { LabCommandError } from './errors.js';
import { run, runOk } from './run.js';

export function linkExists(name: string): boolean {
  return existsSync(`/sys/class/net/${name}`);
}

export async function ensureBridge(name: string, ip: string, alias: string): Promise<void> {
  if (!linkExists(name)) await runOk('ip', ['link', 'add', name, 'type', 'bridge']);
  await runOk('ip', ['link', 'set', 'dev', name, 'alias', alias]);
  await runOk('ip', ['addr', 'replace', `${ip}/24`, 'dev', name]);
  await runOk('ip', ['link', 'set', name, 'up']);
}

export async function deleteLink(name: string): Promise<void> {
  if (!linkExists(name)) return;
  const r = await run('ip', ['link', 'del', name]);
  if (linkExists(name)) throw new LabCommandError(['ip', 'link', 'del', name], r.code, r.stderr);
}

export async function listNetns(): Promise<string[]> {
  const out = await runOk('ip', ['netns', 'list']);
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n !== '');
}

export function netnsExists(ns: string): boolean {
  return existsSync(`/run/netns/${ns}`);
}

export async function deleteNetns(ns: string): Promise<void> {
  if (!netnsExists(ns)) return;
  const r = await run('ip', ['netns', 'del', ns]);
  if (netnsExists(ns)) throw new LabCommandError(['ip', 'netns', 'del', ns], r.code, r.stderr);
}

export interface MachineNet {
  readonly netns: string;
  readonly veth: string;
  readonly ip: string;
  readonly bridge: string;
  /** leave the host side down (the machine's network is cut) */
  readonly cut: boolean;
}

/** Create what is missing: netns, veth pair (host side in the bridge, `host0` inside), addresses. */
export async function ensureMachineNet(n: MachineNet): Promise<void> {
  if (!netnsExists(n.netns)) await runOk('ip', ['netns', 'add', n.netns]);
  const inner = await run('ip', ['-n', n.netns, 'link', 'show', 'host0']);
  if (!linkExists(n.veth) || inner.code !== 0) {
    await deleteLink(n.veth);
    await run('ip', ['-n', n.netns, 'link', 'del', 'host0']);
    await runOk('ip', ['link', 'add', n.veth, 'type', 'veth', 'peer', 'name', 'host0', 'netns', n.netns]);
  }
  await runOk('ip', ['link', 'set', n.veth, 'master', n.bridge]);
  await runOk('ip', ['link', 'set', n.veth, n.cut ? 'down' : 'up']);
  await runOk('ip', ['-n', n.netns, 'addr', 'replace', `${n.ip}/24`, 'dev', 'host0']);
  await runOk('ip', ['-n', n.netns, 'link', 'set', 'host0', 'up']);
  await runOk('ip', ['-n', n.netns, 'link', 'set', 'lo', 'up']);
}

export async function deleteMachineNet(netns: string, veth: string): Promise<void> {
  await deleteLink(veth);
  await deleteNetns(netns);
}

/** Cut (down) or restore (up) a machine's only link, on the host side where the machine cannot undo it. */
export async function setLink(veth: string, up: boolean): Promise<void> {
  await runOk('ip', ['link', 'set', veth, up ? 'up' : 'down']);
}

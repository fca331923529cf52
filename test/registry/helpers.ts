import { createHash, randomBytes } from 'node:crypto';
import type { EtcdInstance } from '../harness/etcd.js';
import { Registry, type MachineState, type UnitSpec } from '../../lib/registry/index.js';
import type { DesiredState } from '../../lib/unit/types.js';

export function sha1(text: string): string {
  return createHash('sha1').update(text).digest('hex');
}

export function unitText(desc: string, extra = ''): string {
  return `[Unit]\nDescription=${desc}\n\n[Service]\nExecStart=/bin/sleep 1000\n${extra}`;
}

export function spec(name: string, opts: { desc?: string; desiredState?: DesiredState; global?: boolean } = {}): UnitSpec {
  const text = unitText(opts.desc ?? name);
  return { name, text, hash: sha1(text), desiredState: opts.desiredState ?? 'inactive', global: opts.global ?? false };
}

export function machine(id: string, metadata: Record<string, string> = {}): MachineState {
  return { id, publicIP: '198.18.0.1', metadata, version: '1.0.0-test', disableEngine: false };
}

/** A registry on a fresh random prefix, so sub-tests sharing one etcd do not see each other. */
export function freshRegistry(etcd: EtcdInstance, client = etcd.client): Registry {
  return new Registry(client, `/test-${randomBytes(4).toString('hex')}/fleet/`);
}

export async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 15000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

import { createHash, randomBytes } from 'node:crypto';
import type { EtcdInstance } from '../harness/etcd.js';
export { sleep, waitFor } from '../harness/wait.js';
import type { MachineState, UnitSpec } from '../../lib/registry/index.js';
import { TestRegistry } from '../harness/registry.js';
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
export function freshRegistry(etcd: EtcdInstance, client = etcd.client): TestRegistry {
  return new TestRegistry(client, `/test-${randomBytes(4).toString('hex')}/fleet/`);
}


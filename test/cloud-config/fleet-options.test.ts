/**
 * fleetd and cloud-config agree on every fleet option value: a value is either accepted by both (fleetd's
 * configuration loader and cloud-config's validation of `coreos.fleet`) or refused by both. A document that
 * validates must not leave fleetd crash-looping on the drop-in cloud-config writes from it.
 */
import t from 'tap';
import { loadConfig } from '../../fleetd/config.js';
import { parseUserData, type ParseResult } from '../../cloud-config/parse.js';
import { FLEET_OPTIONS, renderEnvironmentDropIn } from '../../cloud-config/service-env.js';

/** [option, value as written in YAML and in FLEET_* alike] */
const CASES: [string, string][] = [
  ['engine_reconcile_interval', '2'],
  ['engine_reconcile_interval', '0.5'],
  ['engine_reconcile_interval', '0'],
  ['engine_reconcile_interval', '-1'],
  ['engine_reconcile_interval', '1e-3'],
  ['engine_reconcile_interval', '1e10'],
  ['etcd_request_timeout', '0'],
  ['etcd_request_timeout', '1.5'],
  ['etcd_request_timeout', '3000000'],
  ['agent_ttl', '30s'],
  ['agent_ttl', '0'],
  ['agent_ttl', '0s'],
  ['agent_ttl', '-5s'],
  ['agent_ttl', '+30s'],
  ['agent_ttl', '1m30s'],
  ['agent_ttl', '5000000µs'],
  ['agent_ttl', '5000000μs'],
  ['agent_ttl', '5000000us'],
  ['agent_ttl', '1000h'],
  ['agent_ttl', '30'],
  ['token_limit', '1'],
  ['token_limit', '0'],
  ['token_limit', '65535'],
  ['token_limit', '70000'],
  ['verbosity', '2'],
  ['verbosity', '-1'],
  ['etcd_servers', 'http://10.0.0.1:2379'],
  ['etcd_servers', 'http://10.0.0.1:2379,https://10.0.0.2:2379'],
  ['etcd_servers', 'ftp://10.0.0.1:2379'],
  ['etcd_servers', 'localhost:2379'],
  ['etcd_servers', 'not a url'],
  ['etcd_servers', '","'],
  ['public_ip', '10.0.0.1'],
  ['public_ip', '2001:db8::1'],
  ['public_ip', 'host.example'],
  ['etcd_key_prefix', '/fleet/'],
  ['etcd_key_prefix', 'fleet/'],
  ['units_directory', '/run/fleet/units/'],
  ['units_directory', 'run/fleet'],
  ['etcd_cafile', '/etc/ssl/ca.pem'],
  ['etcd_cafile', 'ca.pem'],
  ['disable_engine', 'true'],
  ['disable_watches', 'false'],
];

const yamlDoc = (name: string, value: string): string => `#cloud-config\ncoreos:\n  fleet:\n    ${name}: ${value}\n`;
const cloudConfigAccepts = (r: ParseResult): boolean => r.kind === 'cloud-config' && r.config !== undefined && !r.diagnostics.some((d) => d.severity === 'error');

function fleetdAccepts(env: Record<string, string>): boolean {
  try {
    loadConfig({ configFile: '/dev/null', env });
    return true;
  } catch {
    return false;
  }
}

t.test('each value is accepted by both or refused by both', async (t) => {
  for (const [name, value] of CASES) {
    const cc = cloudConfigAccepts(parseUserData(yamlDoc(name, value), { substitutions: {} }));
    const fd = fleetdAccepts({ [`FLEET_${name.toUpperCase()}`]: value });
    t.equal(cc, fd, `${name}: ${value} (cloud-config ${cc ? 'accepts' : 'refuses'}, fleetd ${fd ? 'accepts' : 'refuses'})`);
  }
});

t.test('fleetd loads every drop-in cloud-config writes from a valid document', async (t) => {
  for (const [name, value] of CASES) {
    const r = parseUserData(yamlDoc(name, value), { substitutions: {} });
    if (!cloudConfigAccepts(r) || r.kind !== 'cloud-config' || !r.config) continue;
    const text = renderEnvironmentDropIn(FLEET_OPTIONS, r.config.coreos.fleet ?? {}) ?? '';
    const env: Record<string, string> = {};
    for (const m of text.matchAll(/^Environment="([A-Z_]+)=(.*)"$/gm)) env[m[1]!] = m[2]!.replace(/\\(.)/g, '$1').replace(/%%/g, '%');
    t.ok(fleetdAccepts(env), `${name}: ${value} -> ${JSON.stringify(env)}`);
  }
});

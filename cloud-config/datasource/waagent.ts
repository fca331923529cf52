/**
 * --from-waagent DIR: what Azure's Linux agent (waagent) left in DIR (default /var/lib/waagent): available once
 * DIR/provisioned exists; user-data is DIR/CustomData; metadata from DIR/SharedConfig.xml: the private address
 * is the `address` of the <Instance> whose id is <Incarnation instance=...>, the public one the host of the
 * first <Endpoint loadBalancedPublicAddress="host:port">. The XML is read with a few bounded patterns for
 * those attributes only (no entity expansion beyond the five predefined ones).
 */
import { join, resolve } from 'node:path';
import { stat } from 'node:fs/promises';
import { MAX_DOCUMENT_BYTES, MAX_METADATA_BYTES } from '../limits.js';
import { checkedMetadata, readBounded, type SourceContext } from './common.js';
import type { Datasource, Metadata } from './types.js';

const SOURCE = 'waagent';

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** The attributes of one start tag's text (`a="x" b='y'`). */
function attributes(tag: string): Map<string, string> {
  const out = new Map<string, string>();
  // a name only after whitespace: a long run of name characters is then tried once, not from each of its characters
  for (const m of tag.matchAll(/(?:^|\s)([A-Za-z_][\w.-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) {
    out.set(m[1]!, (m[2] ?? m[3] ?? '').replace(/&(amp|lt|gt|quot|apos);/g, (_e, n: string) => ENTITIES[n]!));
  }
  return out;
}

/** Start tags named `name` (with their attribute text) in document order. */
function startTags(xml: string, name: string): Map<string, string>[] {
  return [...xml.matchAll(new RegExp(`<${name}(\\s[^<>]*)?/?>`, 'g'))].map((m) => attributes(m[1] ?? ''));
}

/** Addresses from SharedConfig.xml's text. */
export function sharedConfigAddresses(xml: string): { privateIpv4?: string; publicIpv4?: string } {
  const incarnation = startTags(xml, 'Incarnation')[0]?.get('instance');
  const out: { privateIpv4?: string; publicIpv4?: string } = {};
  if (incarnation === undefined) return out;
  for (const m of xml.matchAll(/<Instance(\s[^<>]*)?>/g)) {
    const attrs = attributes(m[1] ?? '');
    if (attrs.get('id') !== incarnation) continue;
    const address = attrs.get('address');
    if (address) out.privateIpv4 = address;
    const start = m.index + m[0].length;
    const end = xml.indexOf('</Instance>', start);
    for (const ep of startTags(xml.slice(start, end < 0 ? undefined : end), 'Endpoint')) {
      const lb = ep.get('loadBalancedPublicAddress');
      const host = lb === undefined ? undefined : /^\[?([^\]]*?)\]?:\d+$/.exec(lb)?.[1];
      if (host) {
        out.publicIpv4 = host;
        break;
      }
    }
    break;
  }
  return out;
}

export function waagent(root: string, ctx: SourceContext): Datasource {
  const dir = resolve(root);
  return {
    type: SOURCE,
    location: dir,
    availabilityChanges: true,
    async isAvailable(): Promise<boolean> {
      try {
        await stat(join(dir, 'provisioned'));
        return true;
      } catch {
        return false;
      }
    },
    async fetchUserdata(): Promise<Buffer> {
      return (await readBounded(SOURCE, join(dir, 'CustomData'), MAX_DOCUMENT_BYTES)) ?? Buffer.alloc(0);
    },
    async fetchMetadata(): Promise<Metadata> {
      const xml = await readBounded(SOURCE, join(dir, 'SharedConfig.xml'), MAX_METADATA_BYTES);
      return checkedMetadata(SOURCE, ctx.warn, xml === undefined ? {} : sharedConfigAddresses(xml.toString('utf8')));
    },
  };
}

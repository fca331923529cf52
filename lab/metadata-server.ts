#!/usr/bin/env node
/**
 * The lab's EC2-style metadata service, a process of its own that fleet-lab starts (in the cluster's metadata
 * network namespace, on 169.254.169.254:80) and stops at `down`. It answers each machine from the layout the
 * lab wrote for the asking address: DIR/<source ip>.json (read per request, so a re-up changes answers at once).
 * Usage: metadata-server.js DIR HOST PORT; it writes DIR/ready when it listens.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { answerMetadata, type MetadataLayout } from './boot.js';

const [dir, host, port] = process.argv.slice(2);
if (!dir || !host || !port) {
  process.stderr.write('usage: metadata-server.js DIR HOST PORT\n');
  process.exit(2);
}

async function layoutOf(address: string | undefined): Promise<MetadataLayout | undefined> {
  const ip = address?.replace(/^::ffff:/, '');
  if (!ip || !/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) return undefined;
  try {
    return JSON.parse(await readFile(join(dir, `${ip}.json`), 'utf8')) as MetadataLayout;
  } catch {
    return undefined;
  }
}

const server = createServer((req, res) => {
  void (async () => {
    const a = req.method === 'GET' || req.method === 'HEAD' ? answerMetadata(await layoutOf(req.socket.remoteAddress), req.url ?? '/') : { status: 405, body: 'GET only\n' };
    process.stdout.write(`${req.socket.remoteAddress ?? '?'} ${req.method ?? '?'} ${req.url ?? ''} ${a.status}\n`);
    res.writeHead(a.status, { 'content-type': 'text/plain' });
    res.end(req.method === 'HEAD' ? undefined : a.body);
  })().catch(() => res.destroy());
});
server.listen(Number(port), host, () => {
  void writeFile(join(dir, 'ready'), `${process.pid}\n`);
});
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => server.close(() => process.exit(0)));

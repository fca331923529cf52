#!/usr/bin/env node
import { runCli } from './cli.js';
import { decodeUtf8 } from './encoding.js';
import { DocumentTooLargeError } from './errors.js';
import { MAX_DOCUMENT_BYTES } from './limits.js';
import { errorMessage } from '../lib/errors.js';

/** stdin, refused (without reading the rest) once it passes MAX_DOCUMENT_BYTES. */
async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of process.stdin) {
    total += (chunk as Buffer).length;
    if (total > MAX_DOCUMENT_BYTES) {
      process.stdin.destroy();
      throw new DocumentTooLargeError();
    }
    chunks.push(chunk as Buffer);
  }
  return decodeUtf8(Buffer.concat(chunks));
}

runCli(process.argv.slice(2), {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  readStdin,
  env: process.env,
}).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`coreos-cloudinit: internal error: ${errorMessage(err)}\n`);
    process.exitCode = 70;
  },
);

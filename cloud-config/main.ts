#!/usr/bin/env node
import { readDocumentStream, runCli } from './cli.js';
import { errorMessage } from '../lib/errors.js';

runCli(process.argv.slice(2), {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  readStdin: () => readDocumentStream(process.stdin),
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

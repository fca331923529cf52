// Reads TAP from stdin, echoes it, and prints the suite's closing "N passed, N failed" line.
// A test is a top-level subtest of a test file; a file that fails outside any test counts as one failure.
// Before that line it repeats every failed assertion with its file and the start of its diagnostics, so a
// log that keeps only its tail (CI's) still says what failed and where.
import { createInterface } from 'node:readline';

const MAX_FAILURE_LINES = 200;
const MAX_DIAG_LINES = 12;
let passed = 0, failed = 0, skipped = 0, fileFailuresSeen = 0;
let file = '';
const failures = [];
let diagLeft = 0;
const note = (line) => { if (failures.length < MAX_FAILURE_LINES) failures.push(line); };
const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  process.stdout.write(line + '\n');
  const top = /^# Subtest: (.*)$/.exec(line);
  if (top) file = top[1];
  if (diagLeft > 0) {
    if (/^\s*\.\.\.$/.test(line)) diagLeft = 0;
    else { note(`      ${line.trim()}`); diagLeft--; }
  }
  if (/^\s+not ok \d+ - /.test(line)) {
    note(`  ${file}: ${line.trim()}`);
    diagLeft = MAX_DIAG_LINES;
  }
  let m = /^    (not ok|ok) \d+ - (.*)$/.exec(line);
  if (m) {
    if (/# (SKIP|TODO)\b/i.test(m[2])) skipped++;
    else if (m[1] === 'ok') passed++;
    else { failed++; fileFailuresSeen++; }
    return;
  }
  m = /^(not ok|ok) \d+ - /.exec(line);
  if (m) {
    if (m[1] === 'not ok') note(line.trim());
    if (m[1] === 'not ok' && fileFailuresSeen === 0) failed++;
    fileFailuresSeen = 0;
  }
});
rl.on('close', () => {
  if (failures.length > 0) process.stdout.write(`\nfailures:\n${failures.join('\n')}\n`);
  process.stdout.write(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
  process.exitCode = failed > 0 || passed === 0 ? 1 : 0;
});

// Reads TAP from stdin, echoes it, and prints the suite's closing "N passed, N failed" line.
// A test is a top-level subtest of a test file; a file that fails outside any test counts as one failure.
import { createInterface } from 'node:readline';

let passed = 0, failed = 0, skipped = 0, fileFailuresSeen = 0;
const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  process.stdout.write(line + '\n');
  let m = /^    (not ok|ok) \d+ - (.*)$/.exec(line);
  if (m) {
    if (/# (SKIP|TODO)\b/i.test(m[2])) skipped++;
    else if (m[1] === 'ok') passed++;
    else { failed++; fileFailuresSeen++; }
    return;
  }
  m = /^(not ok|ok) \d+ - /.exec(line);
  if (m) {
    if (m[1] === 'not ok' && fileFailuresSeen === 0) failed++;
    fileFailuresSeen = 0;
  }
});
rl.on('close', () => {
  process.stdout.write(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
  process.exitCode = failed > 0 || passed === 0 ? 1 : 0;
});

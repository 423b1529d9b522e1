#!/usr/bin/env node
// Prints jest's totals as one plain closing line ("tests: N passed, N failed, N skipped") for CI.
const fs = require('node:fs');
const file = process.argv[2];
let r;
try {
  r = JSON.parse(fs.readFileSync(file, 'utf8'));
} catch (err) {
  console.log(`tests: 0 passed, 1 failed (no results in ${file}: ${err.message})`);
  process.exit(1);
}
const skipped = r.numPendingTests + (r.numTodoTests || 0);
console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
if (r.numTotalTests === 0) {
  console.log('tests: no test was run');
  process.exit(1);
}

/**
 * `make restore-drill`: the monthly point-in-time recovery drill, on this machine (see drill.ts).
 * Its data goes to a temporary directory, kept when the drill fails (the PostgreSQL logs say why).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DrillFailure, runRestoreDrill } from './drill';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'restore-drill-'));
runRestoreDrill({ dir }).then(
  (r) => {
    console.log(
      `restore-drill: passed: all ${r.acknowledgedBeforeTarget} events acknowledged before T restored, none of the ${r.acknowledgedAfterTarget} after; ` +
        `recovery time ${(r.recoveryMs / 1000).toFixed(1)} s (backup ${r.backupId}, T ${r.targetTime})`,
    );
    fs.rmSync(dir, { recursive: true, force: true });
  },
  (err: Error) => {
    console.error(`restore-drill: FAILED: ${err instanceof DrillFailure ? err.message : (err.stack ?? err.message)}`);
    console.error(`restore-drill: logs kept in ${dir}`);
    process.exit(1);
  },
);

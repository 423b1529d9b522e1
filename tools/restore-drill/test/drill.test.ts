/**
 * The restore drill end to end (real PostgreSQL, s3rver, barman-cloud tools, the service): it passes on an
 * intact archive, and fails loudly when the WAL between the base backup and T is missing or damaged.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { DrillContext, DrillFailure, runRestoreDrill } from '../drill';

const events = { beforeBackup: 50, beforeTarget: 150, afterTarget: 100 };

function drillDir(name: string): string {
  const base = process.env.TEST_STACK_DIR;
  if (!base) throw new Error('TEST_STACK_DIR is not set: run the drill tests through jest');
  return fs.mkdtempSync(path.join(base, `restore-drill-${name}-`));
}

/** The file s3rver keeps an archived WAL segment in. */
function archivedSegment(ctx: DrillContext): string {
  const found = (fs.readdirSync(ctx.objectStoreDir, { recursive: true }) as string[]).filter(
    (f) => path.basename(f).startsWith(ctx.beforeTarget.segment) && f.endsWith('._S3rver_object'),
  );
  if (found.length !== 1) throw new Error(`expected one archived object for ${ctx.beforeTarget.segment}, found ${found.length}`);
  return path.join(ctx.objectStoreDir, found[0] as string);
}

test('when the archive is intact, then the restore to T brings back exactly the events acknowledged before T and reports the recovery time', async () => {
  const lines: string[] = [];
  const result = await runRestoreDrill({ dir: drillDir('intact'), events, log: (l) => lines.push(l) });
  expect(result).toMatchObject({
    acknowledgedBeforeTarget: 200,
    acknowledgedAfterTarget: 100,
    restored: 200,
    lost: 0,
    extra: 0,
  });
  expect(result.recoveryMs).toBeGreaterThan(0);
  expect(lines.filter((l) => /^restore-drill: \[\d\/9\]/.test(l))).toHaveLength(9);
  expect(lines.at(-1)).toMatch(/200 events restored: 0 lost, 0 extra; recovery took \d+\.\d s/);
}, 180000);

test('when the WAL segment holding events before T is missing from the archive, then the drill fails saying recovery stopped short of T', async () => {
  const run = runRestoreDrill({
    dir: drillDir('missing'),
    events,
    log: () => undefined,
    beforeRestore: (ctx) => fs.rmSync(archivedSegment(ctx)),
  });
  await expect(run).rejects.toThrow(DrillFailure);
  await expect(run).rejects.toThrow(/recovery to T failed[\s\S]*recovery ended before configured recovery target was reached/);
}, 180000);

test('when that WAL segment is corrupted in the archive, then the drill fails saying recovery stopped short of T', async () => {
  const run = runRestoreDrill({
    dir: drillDir('corrupt'),
    events,
    log: () => undefined,
    beforeRestore: (ctx) => {
      // Garbage over the records written after the backup, up to T: the page headers and the records' CRCs no longer match.
      const file = archivedSegment(ctx);
      const fd = fs.openSync(file, 'r+');
      try {
        const from = 64;
        fs.writeSync(fd, randomBytes(Math.max(1, ctx.beforeTarget.offset - from)), 0, undefined, from);
      } finally {
        fs.closeSync(fd);
      }
    },
  });
  await expect(run).rejects.toThrow(DrillFailure);
  await expect(run).rejects.toThrow(/recovery to T failed[\s\S]*recovery ended before configured recovery target was reached/);
}, 180000);

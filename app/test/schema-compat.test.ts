/**
 * Expand, then contract (CONTRIBUTING.md): a migration runs while the previous release still serves, so the
 * schema must serve both. Two checks: no statement that removes or reshapes something (DROP, RENAME, a new
 * column type, SET NOT NULL) without a `-- contract:` note saying why no running release uses it; and the
 * current app ingesting and reading on the schema one migration behind (a release whose migration has not run
 * yet, or was held back by a lock timeout).
 */
import fs from 'node:fs';
import path from 'node:path';
import { MIGRATIONS_DIR } from '../src/db/migrate';
import { createSensor, databaseAtMigration, getJson, postEvents, startTestService } from './helpers';

const CONTRACT = /\b(DROP\s+(TABLE|COLUMN|VIEW|TYPE|SCHEMA)|RENAME\b|ALTER\s+COLUMN\s+\S+\s+(SET\s+DATA\s+)?TYPE\b|SET\s+NOT\s+NULL)/i;
const migrations = fs
  .readdirSync(MIGRATIONS_DIR)
  .filter((f) => f.endsWith('.sql'))
  .sort();

/** Statements of an up migration that contract the schema with no `-- contract:` note on the line above. */
function unannotatedContractions(sql: string): string[] {
  const up = sql.split(/^-- Down Migration/m)[0] ?? '';
  const lines = up.split('\n');
  return lines.filter((line, i) => {
    const code = line.replace(/--.*$/, '');
    return CONTRACT.test(code) && !/-- contract: \S/.test(`${lines[i - 1] ?? ''}\n${line}`);
  });
}

test.each(migrations)('when %s removes or reshapes something, then it says why no running release still uses it', (file) => {
  expect(unannotatedContractions(fs.readFileSync(path.join(MIGRATIONS_DIR, file), 'utf8'))).toEqual([]);
});

test('when a DROP COLUMN or a RENAME comes without a contract note, then the check names it', () => {
  const sql =
    '-- Up Migration\nALTER TABLE sensors DROP COLUMN name;\nALTER TABLE sensors RENAME TO s;\n-- Down Migration\nDROP TABLE s;\n';
  expect(unannotatedContractions(sql)).toEqual(['ALTER TABLE sensors DROP COLUMN name;', 'ALTER TABLE sensors RENAME TO s;']);
  expect(
    unannotatedContractions(sql.replace('ALTER TABLE sensors DROP', '-- contract: unused since 0.3.0\nALTER TABLE sensors DROP')),
  ).toEqual(['ALTER TABLE sensors RENAME TO s;']);
});

test('when the schema is one migration behind, then the current app still creates sensors, ingests and reads events', async () => {
  const { service } = await databaseAtMigration('behind', migrations.length - 1);
  const svc = await startTestService({ DATABASE_URL: service });
  try {
    const sensor = await createSensor(svc.url);
    const events = Array.from({ length: 5 }, (_, i) => ({ type: 'compat', payload: { i } }));
    expect((await postEvents(svc.url, sensor.token, { events })).status).toBe(202);
    const page = await getJson(`${svc.url}/api/v1/events?limit=10`, sensor.token);
    expect(page.status).toBe(200);
    expect(page.body.events.map((e: { payload: { i: number } }) => e.payload.i).sort()).toEqual([0, 1, 2, 3, 4]);
  } finally {
    await svc.shutdown();
  }
});

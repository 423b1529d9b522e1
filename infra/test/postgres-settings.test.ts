/**
 * infra/postgres/postgresql.conf is the one source of PostgreSQL's server settings: the parser, and the real
 * cluster the test harness started (tools/stack/services.ts, as `make local` and `make bench` start theirs)
 * running with every one of them. The StatefulSet's arguments are checked in database.test.ts.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { parsePostgresSettings, postgresArgs, postgresSettings } from '../postgres/settings';

describe('parsePostgresSettings', () => {
  test('when the text has comments, blank lines, bare and quoted values, then it returns the pairs in order', () => {
    const text = [
      '# a comment',
      '',
      'backend_flush_after = 256kB   # trailing comment',
      "wal_compression='lz4'",
      "application_name = 'it''s # not a comment'",
      'checkpoint_completion_target 0.9',
      '  auto_explain.log_min_duration = 250ms',
    ].join('\n');
    expect(parsePostgresSettings(text)).toEqual([
      ['backend_flush_after', '256kB'],
      ['wal_compression', 'lz4'],
      ['application_name', "it's # not a comment"],
      ['checkpoint_completion_target', '0.9'],
      ['auto_explain.log_min_duration', '250ms'],
    ]);
  });

  test.each([
    ['a line without a value', 'backend_flush_after =', /x\.conf:2: expected "name = value"/],
    ['an unterminated quote', "wal_compression = 'lz4", /x\.conf:2: expected "name = value"/],
    ['two values', 'backend_flush_after = 256kB 512kB', /x\.conf:2: expected "name = value"/],
    ['a name PostgreSQL cannot have', 'Backend-Flush = 1', /x\.conf:2: "Backend-Flush" is not a PostgreSQL setting name/],
    ['a name given twice', 'backend_flush_after = 0\nbackend_flush_after = 256kB', /x\.conf:3: backend_flush_after is set twice/],
  ])('when the text has %s, then the error names the file and line', (_what, line, error) => {
    expect(() => parsePostgresSettings(`# settings\n${line}`, 'x.conf')).toThrow(error);
  });

  test('when given as arguments, then each setting is one `-c name=value` pair', () => {
    expect(
      postgresArgs([
        ['backend_flush_after', '256kB'],
        ['application_name', 'a b'],
      ]),
    ).toEqual(['-c', 'backend_flush_after=256kB', '-c', 'application_name=a b']);
  });

  test('when the file cannot be read, then the error names it', () => {
    const missing = path.join(os.tmpdir(), 'no-such-dir', 'postgresql.conf');
    expect(() => postgresSettings(missing)).toThrow(/no-such-dir\/postgresql\.conf/);
  });
});

describe('infra/postgres/postgresql.conf', () => {
  const settings = postgresSettings();

  test('when read, then it sets at least the measured write-back bound and never touches durability', () => {
    const names = settings.map(([name]) => name);
    expect(Object.fromEntries(settings)).toMatchObject({ backend_flush_after: '256kB' });
    for (const durability of ['fsync', 'synchronous_commit', 'full_page_writes', 'wal_sync_method'])
      expect(names).not.toContain(durability);
    expect(fs.readFileSync(path.join(__dirname, '..', 'postgres', 'postgresql.conf'), 'utf8')).toContain('backend_flush_after');
  });

  test('when the harness started its real PostgreSQL, then every setting of the file is in force, set on its command line', async () => {
    const client = new Client({ connectionString: process.env.TEST_DATABASE_URL });
    await client.connect();
    try {
      for (const [name, value] of settings) {
        const { rows } = await client.query<{ value: string; source: string }>(
          'SELECT current_setting(name) AS value, source FROM pg_settings WHERE name = $1',
          [name],
        );
        expect({ name, ...rows[0] }).toEqual({ name, value, source: 'command line' });
      }
    } finally {
      await client.end();
    }
  });
});

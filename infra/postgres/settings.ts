/**
 * Reads infra/postgres/postgresql.conf, the server settings of every PostgreSQL the stack starts: the
 * local stack and test harness (tools/stack/services.ts), the benchmarks, and the in-cluster StatefulSet
 * (infra/components/postgres.ts). Only node:fs here, so each of them can import it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export const POSTGRES_CONF = path.join(__dirname, 'postgresql.conf');

/** A setting name as PostgreSQL spells them (lower case, digits, underscores, dotted for extensions). */
const NAME = /^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$/;

/**
 * The `[name, value]` pairs of a postgresql.conf-style text, in file order. Values may be bare
 * (`256kB`, `on`, `0.9`) or single-quoted (`'lz4'`, with `''` for a quote); `#` outside quotes starts a
 * comment. Anything else, or a name given twice, is an error naming the line.
 */
export function parsePostgresSettings(text: string, source = 'postgresql.conf'): Array<[string, string]> {
  const settings: Array<[string, string]> = [];
  const seen = new Set<string>();
  text.split('\n').forEach((raw, i) => {
    const where = `${source}:${i + 1}`;
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const m = /^([^\s=#]+)\s*=?\s*('(?:[^']|'')*'|[^\s#'=][^\s#']*)\s*(#.*)?$/.exec(line);
    if (!m) throw new Error(`${where}: expected "name = value", got ${JSON.stringify(line)}`);
    const [, name, rawValue] = m as unknown as [string, string, string];
    if (!NAME.test(name)) throw new Error(`${where}: ${JSON.stringify(name)} is not a PostgreSQL setting name`);
    if (seen.has(name)) throw new Error(`${where}: ${name} is set twice`);
    seen.add(name);
    const value = rawValue.startsWith("'") ? rawValue.slice(1, -1).replace(/''/g, "'") : rawValue;
    settings.push([name, value]);
  });
  return settings;
}

/** The stack's PostgreSQL settings (infra/postgres/postgresql.conf). */
export function postgresSettings(file = POSTGRES_CONF): Array<[string, string]> {
  return parsePostgresSettings(fs.readFileSync(file, 'utf8'), path.relative(process.cwd(), file) || file);
}

/** The settings as postgres command-line arguments: `-c name=value` each. */
export function postgresArgs(settings = postgresSettings()): string[] {
  return settings.flatMap(([name, value]) => ['-c', `${name}=${value}`]);
}

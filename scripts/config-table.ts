/**
 * The README's configuration table, rendered from the one schema in app/src/config.ts.
 * `tsx scripts/config-table.ts` prints it; `--write` replaces the copy in README.md.
 */
import fs from 'node:fs';
import path from 'node:path';
import { settings } from '../app/src/config';

export const README = path.join(__dirname, '..', 'README.md');
const START = '<!-- config-table:start -->';
const END = '<!-- config-table:end -->';

export function configTable(): string {
  const rows = Object.entries(settings).map(([name, s]) => {
    const dflt = 'default' in s && s.default !== undefined ? (s.default === '' ? '(empty)' : `\`${s.default}\``) : '**required**';
    return `| \`${name}\` | ${dflt} | ${'secret' in s && s.secret ? 'yes' : ''} | ${s.doc} |`;
  });
  return ['| Variable | Default | Secret | Meaning |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

/** The table as it stands in the README, or undefined when the markers are missing. */
export function readmeTable(readme: string): string | undefined {
  return readme.split(START)[1]?.split(END)[0]?.trim();
}

if (require.main === module) {
  if (process.argv.includes('--write')) {
    const readme = fs.readFileSync(README, 'utf8');
    if (readmeTable(readme) === undefined) throw new Error(`README.md has no ${START} … ${END} markers`);
    const [before, rest] = readme.split(START) as [string, string];
    fs.writeFileSync(README, `${before}${START}\n${configTable()}\n${END}${rest.split(END)[1]}`);
    console.log('README.md configuration table updated');
  } else {
    console.log(configTable());
  }
}

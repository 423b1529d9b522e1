/**
 * The configuration table of docs/operations.md, rendered from the one schema in app/src/config.ts.
 * `tsx scripts/config-table.ts` prints it; `--write` (`make config-docs`) replaces the copy in the document.
 */
import fs from 'node:fs';
import path from 'node:path';
import { settings } from '../app/src/config';

export const CONFIG_DOC = path.join(__dirname, '..', 'docs', 'operations.md');
const START = '<!-- config-table:start -->';
const END = '<!-- config-table:end -->';

export function configTable(): string {
  const rows = Object.entries(settings).map(([name, s]) => {
    const dflt = 'default' in s && s.default !== undefined ? (s.default === '' ? '(empty)' : `\`${s.default}\``) : '**required**';
    return `| \`${name}\` | ${dflt} | ${'secret' in s && s.secret ? 'yes' : ''} | ${s.doc} |`;
  });
  return ['| Variable | Default | Secret | Meaning |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

/** The table as it stands in the document, or undefined when the markers are missing. */
export function documentedTable(doc: string): string | undefined {
  return doc.split(START)[1]?.split(END)[0]?.trim();
}

if (require.main === module) {
  if (process.argv.includes('--write')) {
    const doc = fs.readFileSync(CONFIG_DOC, 'utf8');
    if (documentedTable(doc) === undefined) throw new Error(`${CONFIG_DOC} has no ${START} … ${END} markers`);
    const [before, rest] = doc.split(START) as [string, string];
    fs.writeFileSync(CONFIG_DOC, `${before}${START}\n${configTable()}\n${END}${rest.split(END)[1]}`);
    console.log(`${path.relative(process.cwd(), CONFIG_DOC)}: configuration table updated`);
  } else {
    console.log(configTable());
  }
}

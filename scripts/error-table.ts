/**
 * The error table of docs/api.md, rendered from the one error catalogue in app/src/http/error-catalogue.ts.
 * `tsx scripts/error-table.ts` prints it; `--write` (`make error-docs`) replaces the copy in the document.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ERRORS } from '../app/src/http/error-catalogue';

export const API_DOC = path.join(__dirname, '..', 'docs', 'api.md');
const START = '<!-- error-table:start -->';
const END = '<!-- error-table:end -->';

export function errorTable(): string {
  const rows = Object.entries(ERRORS)
    .sort(([a, x], [b, y]) => x.status - y.status || a.localeCompare(b))
    .map(([code, e]) => `| ${e.status} | \`${code}\` | ${e.when} |`);
  return ['| status | code | when |', '| --- | --- | --- |', ...rows].join('\n');
}

/** The table as it stands in the document, or undefined when the markers are missing. */
export function documentedErrorTable(doc: string): string | undefined {
  return doc.split(START)[1]?.split(END)[0]?.trim();
}

if (require.main === module) {
  if (process.argv.includes('--write')) {
    const doc = fs.readFileSync(API_DOC, 'utf8');
    if (documentedErrorTable(doc) === undefined) throw new Error(`${API_DOC} has no ${START} … ${END} markers`);
    const [before, rest] = doc.split(START) as [string, string];
    fs.writeFileSync(API_DOC, `${before}${START}\n${errorTable()}\n${END}${rest.split(END)[1]}`);
    console.log(`${path.relative(process.cwd(), API_DOC)}: error table updated`);
  } else {
    console.log(errorTable());
  }
}

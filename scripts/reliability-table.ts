/**
 * The figures table of docs/reliability.md, rendered from the figures the reliability tests write to
 * out/faults/*.json. `tsx scripts/reliability-table.ts` prints it; `--write` replaces the copy in the document.
 */
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.join(__dirname, '..');
const RESULTS = path.join(ROOT, 'out', 'faults');
const RELIABILITY_DOC = path.join(ROOT, 'docs', 'reliability.md');
const START = '<!-- reliability-table:start -->';
const END = '<!-- reliability-table:end -->';
const FAULTS = ['kill9', 'postgres', 'redis', 'sigterm'];

/** The figures files are written by the tests themselves (app/test/faults/results.ts). */
type Figures = Record<string, string | number> & { statusesDuringFault: Record<string, number> };

function read(name: string): Figures {
  const file = path.join(RESULTS, `${name}.json`);
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: run \`make test-faults\` (faults) or \`make test\` (everything) first`);
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Figures;
}

const statuses = (s: Record<string, number>) =>
  Object.entries(s)
    .map(([k, n]) => `${n}× ${k}`)
    .join(', ');

export function reliabilityTable(): string {
  const rows = FAULTS.map((name) => {
    const f = read(name);
    return `| ${f.fault} | ${f.sent} | ${f.acknowledged} | ${f.stored} | **${f.lost}** | ${f.duplicates} | ${f.longestRequestMsDuringFault} ms | ${statuses(f.statusesDuringFault)} |`;
  });
  const corpus = read('corpus');
  const props = read('properties');
  return [
    '| fault | events sent | acknowledged | stored | lost | duplicates | longest request during the fault | answers during the fault |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
    '| inputs | tried | 5xx answers | events stored from rejected requests |',
    '| --- | --- | --- | --- |',
    `| bad-input corpus (\`app/test/corpus/bad-inputs.json\`) | ${corpus.inputs} (${corpus.rejectedCases} rejected cases, ${corpus.acceptedCases} accepted edge cases) | ${corpus.answered5xx} | ${corpus.storedFromRejected} |`,
    `| property tests (fast-check) | ${props.requests} generated requests | ${props.fiveXX} | 0 |`,
    '',
    `Recorded ${String(read('kill9').recordedAt).slice(0, 10)} on a 2-core machine (\`make test-faults\` writes \`out/faults/\`; \`make reliability-table\` copies it here).`,
  ].join('\n');
}

if (require.main === module) {
  const table = reliabilityTable();
  if (process.argv.includes('--write')) {
    const doc = fs.readFileSync(RELIABILITY_DOC, 'utf8');
    if (!doc.includes(START) || !doc.includes(END)) throw new Error(`${RELIABILITY_DOC} has no ${START} … ${END} markers`);
    const [before, rest] = doc.split(START) as [string, string];
    fs.writeFileSync(RELIABILITY_DOC, `${before}${START}\n${table}\n${END}${rest.split(END)[1]}`);
    console.log('docs/reliability.md: reliability table updated');
  } else {
    console.log(table);
  }
}

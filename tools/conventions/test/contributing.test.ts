/**
 * CONTRIBUTING.md's "How to add …" lists stay true: every file and folder they name exists (`<stage>` stands for
 * each stage, `*` for any name), and every `make` target they name is a target of the Makefile or mk/*.mk.
 */
import fs from 'node:fs';
import path from 'node:path';
import { STAGES } from '../../../infra/stages';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const text = fs.readFileSync(path.join(ROOT, 'CONTRIBUTING.md'), 'utf8');
const howTo = text.slice(text.indexOf('## How to add …'), text.indexOf('\n## ', text.indexOf('## How to add …') + 1));
const code = [...new Set([...howTo.matchAll(/`([^`]+)`/g)].map((m) => m[1]!))];

/** A code span that names a file or folder of the repository (not a key, a command or a name in a file). */
const isPath = (c: string) => /^[\w.\-/<>*]+$/.test(c) && (c.includes('/') || /\.(ts|ya?ml|md|json|mk)$/.test(c)) && !c.startsWith('-');

/** The files a path stands for: each stage for `<stage>`, and a `*` or `<group>` segment matching any name. */
function matches(pattern: string): string[] {
  if (pattern.includes('<stage>')) return STAGES.flatMap((s) => matches(pattern.replace('<stage>', s)));
  const parts = pattern.replace(/\/$/, '').split('/');
  let found = [ROOT];
  for (const part of parts) {
    const re = new RegExp(`^${part.replace(/[.]/g, '\\.').replace(/\*|<[a-z]+>/g, '[^/]+')}$`);
    found = found.flatMap((dir) =>
      fs.existsSync(dir) && fs.statSync(dir).isDirectory()
        ? fs
            .readdirSync(dir)
            .filter((f) => re.test(f))
            .map((f) => path.join(dir, f))
        : [],
    );
  }
  return found;
}

const targets = new Set(
  ['Makefile', ...fs.readdirSync(path.join(ROOT, 'mk')).map((f) => path.join('mk', f))].flatMap((f) =>
    [...fs.readFileSync(path.join(ROOT, f), 'utf8').matchAll(/^([a-z][a-z0-9-]*):/gm)].map((m) => m[1]!),
  ),
);

test('when the how-to lists are read, then they name files and make targets (the check below has something to check)', () => {
  expect(howTo).toContain('### An alert');
  expect(howTo).toContain('### An environment (stage)');
  expect(code.filter(isPath).length).toBeGreaterThan(20);
  expect(code.filter((c) => c.startsWith('make ')).length).toBeGreaterThan(5);
});

test.each(code.filter(isPath))('when the how-to names %s, then it exists', (named) => {
  expect(matches(named)).not.toEqual([]);
  if (named.includes('<stage>')) expect(matches(named)).toHaveLength(STAGES.length);
});

test.each(code.filter((c) => c.startsWith('make ')))('when the how-to says `%s`, then that target exists', (command) => {
  expect([...targets]).toContain(command.split(/\s+/)[1]);
});

test('when a how-to names a file that does not exist, then the check finds none for it', () => {
  expect(matches('monitoring/src/alerts.ts')).toEqual([]);
  expect(matches('alerts/test/promtool/<group>.test.yml').length).toBeGreaterThan(1);
  expect(matches('Pulumi.<stage>.yaml')).toHaveLength(STAGES.length);
});

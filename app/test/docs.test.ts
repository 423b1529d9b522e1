import fs from 'node:fs';
import path from 'node:path';
import { CONFIG_DOC, configTable, documentedTable } from '../../scripts/config-table';
import { API_DOC, documentedErrorTable, errorTable } from '../../scripts/error-table';

const ROOT = path.join(__dirname, '..', '..');
const DOCS = path.join(ROOT, 'docs');
const documents = [
  ...['README.md', 'CONTRIBUTING.md', 'CHANGELOG.md'].map((f) => path.join(ROOT, f)),
  ...fs.readdirSync(DOCS).map((f) => path.join(DOCS, f)),
].filter((f) => f.endsWith('.md'));

/** Markdown outside fenced code blocks: a `](` inside a shell example is not a link. */
const prose = (file: string) => fs.readFileSync(file, 'utf8').replace(/^```[\s\S]*?^```/gm, '');

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
const anchor = (heading: string) =>
  heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');

const anchorsOf = (file: string) => new Set([...prose(file).matchAll(/^#{1,6} +(.+)$/gm)].map((m) => anchor(m[1]!.trim())));

/** Every relative link of a document as [link text, target file, anchor or ''] */
function relativeLinks(file: string): [string, string, string][] {
  return [...prose(file).matchAll(/\]\(([^)\s]+)\)/g)]
    .map((m) => m[1]!)
    .filter((target) => !/^[a-z]+:/.test(target))
    .map((target) => {
      const [rel = '', hash = ''] = target.split('#');
      return [target, rel === '' ? file : path.resolve(path.dirname(file), rel), hash];
    });
}

describe('documentation', () => {
  it('when the config schema changes, then docs/operations.md holds its table exactly as rendered (`make config-docs` rewrites it)', () => {
    expect(documentedTable(fs.readFileSync(CONFIG_DOC, 'utf8'))).toBe(configTable());
  });

  it('when the error catalogue changes, then docs/api.md holds its table exactly as rendered (`make error-docs` rewrites it)', () => {
    expect(documentedErrorTable(fs.readFileSync(API_DOC, 'utf8'))).toBe(errorTable());
  });

  it.each(documents.map((f) => [path.relative(ROOT, f), f]))('when %s links to a file or a heading, then it exists', (_name, file) => {
    const broken = relativeLinks(file).filter(
      ([, target, hash]) => !fs.existsSync(target) || (hash !== '' && !anchorsOf(target).has(hash)),
    );
    expect(broken.map(([link]) => link)).toEqual([]);
  });

  it('when a document is in docs/, then the README links to it', () => {
    const linked = new Set(relativeLinks(path.join(ROOT, 'README.md')).map(([, target]) => target));
    const unlinked = documents.filter((f) => f.startsWith(DOCS) && !linked.has(f)).map((f) => path.relative(ROOT, f));
    expect(unlinked).toEqual([]);
  });
});

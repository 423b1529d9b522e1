/**
 * Every `runbook_url` the promtool tests expect, rewritten from the one pattern in monitoring/src/contract.ts
 * (RUNBOOK_URL_PATTERN). The rule files get theirs when they are rendered (`make alerts`); the tests are
 * written by hand, so their expected URLs are kept in step here. `tsx scripts/runbook-urls.ts` lists stale
 * files; `--write` (`make runbook-urls`) rewrites them, changing those lines only.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ALERTS_DIR, runbookUrl, RUNBOOK_URL_PATTERN } from '../monitoring/src';

const PROMTOOL_TESTS = path.join(ALERTS_DIR, 'test', 'promtool');

/** The promtool test files (each expects the runbook URLs of the alerts it tests). */
export function runbookUrlFiles(): string[] {
  return fs
    .readdirSync(PROMTOOL_TESTS)
    .filter((f) => f.endsWith('.yml'))
    .sort()
    .map((f) => path.join(PROMTOOL_TESTS, f));
}

/** The text with each `runbook_url:` value set to the pattern applied to its alert: the nearest `alertname:` above it. */
export function withRunbookUrls(text: string, file: string, pattern = RUNBOOK_URL_PATTERN): string {
  let alert: string | undefined;
  return text
    .split('\n')
    .map((line, i) => {
      const named = /^\s*(?:-\s+)?alertname:\s*['"]?([A-Za-z0-9_]+)['"]?\s*$/.exec(line);
      if (named) alert = named[1];
      const url = /^(\s*runbook_url:\s*).*$/.exec(line);
      if (!url) return line;
      if (!alert) throw new Error(`${file}:${i + 1}: runbook_url before any alertname`);
      return `${url[1]}${runbookUrl(alert, pattern)}`;
    })
    .join('\n');
}

/** Files whose runbook URLs do not follow the pattern. */
export function staleFiles(pattern = RUNBOOK_URL_PATTERN): string[] {
  return runbookUrlFiles().filter((f) => {
    const text = fs.readFileSync(f, 'utf8');
    return withRunbookUrls(text, f, pattern) !== text;
  });
}

if (require.main === module) {
  const stale = staleFiles();
  if (process.argv.includes('--write')) {
    for (const f of stale) fs.writeFileSync(f, withRunbookUrls(fs.readFileSync(f, 'utf8'), f));
    console.log(`runbook-urls: ${stale.length} file(s) rewritten from ${RUNBOOK_URL_PATTERN}`);
  } else {
    for (const f of stale) console.log(`stale: ${path.relative(process.cwd(), f)}`);
    process.exitCode = stale.length ? 1 : 0;
  }
}

/**
 * One setting for the runbook URLs (RUNBOOK_URL_PATTERN in monitoring/src/contract.ts): the rendered rules and
 * the promtool tests carry exactly the URLs it gives, and another pattern changes all of them consistently.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { ALERTS_DIR, renderRuleFiles, runbookUrl } from '../../monitoring/src';
import { runbookUrlFiles, staleFiles, withRunbookUrls } from '../../scripts/runbook-urls';

const OTHER_PATTERN = 'https://runbooks.example.com/event-stack/%s';
const urlLines = (text: string) => text.split('\n').filter((l) => /^\s*runbook_url:/.test(l));

test('when the promtool tests are read, then every runbook_url they expect is the pattern applied to its alert (`make runbook-urls` rewrites them)', () => {
  const files = runbookUrlFiles();
  expect(files.length).toBeGreaterThan(0);
  expect(files.every((f) => f.endsWith('.test.yml'))).toBe(true);
  expect(files.flatMap((f) => urlLines(fs.readFileSync(f, 'utf8'))).length).toBeGreaterThanOrEqual(20);
  expect(staleFiles()).toEqual([]);
});

test('when the pattern changes, then every runbook_url line of the promtool tests changes to it and no other line changes', () => {
  for (const file of runbookUrlFiles()) {
    const before = fs.readFileSync(file, 'utf8').split('\n');
    const after = withRunbookUrls(before.join('\n'), file, OTHER_PATTERN).split('\n');
    expect(after).toHaveLength(before.length);
    before.forEach((line, i) => {
      if (/^\s*runbook_url:/.test(line))
        expect(after[i]).toMatch(/^\s*runbook_url: https:\/\/runbooks\.example\.com\/event-stack\/event[a-z0-9]+$/);
      else expect(after[i]).toBe(line);
    });
  }
});

test('when the rules are rendered with another pattern, then every alert carries the URL it gives', () => {
  for (const text of Object.values(renderRuleFiles(OTHER_PATTERN))) {
    const doc = YAML.parse(text) as { groups: { rules: { alert?: string; annotations?: Record<string, string> }[] }[] };
    for (const rule of doc.groups.flatMap((g) => g.rules).filter((r) => r.alert))
      expect(rule.annotations?.runbook_url).toBe(runbookUrl(rule.alert!, OTHER_PATTERN));
  }
});

test('when rules are rendered and promtool tests rewritten with another pattern, then promtool still passes every alert test', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-urls-'));
  fs.mkdirSync(path.join(dir, 'rules'));
  for (const [name, text] of Object.entries(renderRuleFiles(OTHER_PATTERN))) fs.writeFileSync(path.join(dir, 'rules', name), text);
  for (const file of runbookUrlFiles()) {
    const target = path.join(dir, path.relative(ALERTS_DIR, file));
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, withRunbookUrls(fs.readFileSync(file, 'utf8'), file, OTHER_PATTERN));
  }
  const testsDir = path.join(dir, 'test', 'promtool');
  const tests = fs.readdirSync(testsDir).map((f) => path.join(testsDir, f));
  expect(() => execFileSync('promtool', ['test', 'rules', ...tests], { stdio: 'pipe' })).not.toThrow();
  fs.rmSync(dir, { recursive: true });
});

test('when a runbook_url comes before any alertname, then the rewrite refuses, naming the line', () => {
  expect(() => withRunbookUrls('tests:\n  - exp_annotations:\n      runbook_url: x\n', 'broken.yml')).toThrow(
    'broken.yml:3: runbook_url before any alertname',
  );
});

/**
 * The runbook as an on-call person runs it: every kubectl names its context and namespace (set by
 * `make kube-env`), and every paging entry gives something to run, a query or a command.
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { kubeEnv } from '../../infra/scripts/kube-env';
import { STACKS, stackFile } from '../../infra/offline';

const RUNBOOK = fs.readFileSync(path.join(__dirname, '../runbook.md'), 'utf8');
const KUBECTL = 'kubectl --context "$CTX" -n "$NS"';

/** Each alert's entry: the text under its `## Alert` heading. */
const sections = new Map(
  RUNBOOK.split(/^## /m)
    .slice(1)
    .map((s) => [s.slice(0, s.indexOf('\n')).trim(), s] as const),
);

const pagingAlerts = fs
  .readdirSync(path.join(__dirname, '../rules'))
  .flatMap((f) => (YAML.parse(fs.readFileSync(path.join(__dirname, '../rules', f), 'utf8')) as any).groups)
  .flatMap((g: { rules: { alert?: string; labels?: Record<string, string> }[] }) => g.rules)
  .filter((r: { alert?: string; labels?: Record<string, string> }) => r.alert && r.labels?.severity === 'critical')
  .map((r: { alert?: string }) => r.alert!);

test('when the runbook says kubectl, then it names the context and the namespace every time', () => {
  const uses = RUNBOOK.split('\n').flatMap((line) =>
    [...line.matchAll(/`([^`]+)`/g)].map((m) => m[1]!).filter((code) => /\bkubectl\s/.test(code)),
  );
  expect(uses.length).toBeGreaterThan(5);
  expect(uses.filter((u) => !u.includes(KUBECTL))).toEqual([]);
});

test.each(STACKS)(
  'when the on-call person sets up for %s, then make kube-env gives the context and namespace of its stack file',
  (stack) => {
    const { config } = stackFile(stack);
    expect(kubeEnv(stack)).toBe(
      `CTX="${config.kubeContext ?? '$(kubectl config current-context)'}"; NS="${config.namespace}"; export CTX NS`,
    );
  },
);

test('when an alert pages, then its runbook entry gives a query or a command to run', () => {
  expect(pagingAlerts.length).toBeGreaterThan(3);
  const runnable = (entry: string) =>
    [...entry.matchAll(/`([^`]+)`/g)].some(([, code]) => /^(kubectl|make|psql|curl|SELECT)\b/.test(code!) || /[a-z_]+[({]/.test(code!));
  expect(pagingAlerts.filter((a) => !sections.has(a) || !runnable(sections.get(a)!))).toEqual([]);
});

test('when the runbook speaks of the Pushgateway, then it says what the stack does: it persists pushed groups', () => {
  expect(RUNBOOK).not.toMatch(/keeps nothing across restarts/);
});

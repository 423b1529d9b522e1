/** The metric names of the contract: well-formed, unique, and the ones docs/api.md lists. */
import fs from 'node:fs';
import path from 'node:path';
import { MAINTENANCE_METRICS, SERVICE_METRICS } from '../src';

const ROOT = path.join(__dirname, '..', '..');

const all = [...Object.values(SERVICE_METRICS), ...Object.values(MAINTENANCE_METRICS)];

test('when the contract’s metrics are read, then each has a Prometheus name, a help text and label names, and no name is taken twice', () => {
  for (const m of all) {
    expect(m.name).toMatch(/^[a-z_][a-z0-9_]*$/);
    expect(m.help).toMatch(/\.$/);
    for (const l of m.labelNames) expect(l).toMatch(/^[a-z][a-z0-9_]*$/);
  }
  expect(new Set(all.map((m) => m.name)).size).toBe(all.length);
});

test('when docs/api.md describes GET /metrics, then it names exactly the service’s metrics of the contract', () => {
  const api = fs.readFileSync(path.join(ROOT, 'docs', 'api.md'), 'utf8');
  const row = api.split('\n').find((l) => l.startsWith('| `GET /metrics` |'));
  expect(row).toBeDefined();
  // Label values such as `unmatched` are quoted too: metric names are the quoted words with an underscore.
  const named = [...row!.matchAll(/`([a-z]+_[a-z_]+)(?:\{[^}`]*\})?`/g)].map((m) => m[1]!);
  expect([...new Set(named)].sort()).toEqual(
    Object.values(SERVICE_METRICS)
      .map((m) => m.name)
      .sort(),
  );
});

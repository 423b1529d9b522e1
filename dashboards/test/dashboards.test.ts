/** Every dashboard follows the conventions, and dashboards/json is what dashboards/src renders. */
import fs from 'node:fs';
import path from 'node:path';
import { allDashboards } from '../src/index';

const JSON_DIR = path.join(__dirname, '..', 'json');
const dashboards = allDashboards();

interface Target {
  refId?: string;
  expr?: string;
  datasource?: { uid?: string };
}
interface PanelJson {
  title?: string;
  description?: string;
  datasource?: { uid?: string };
  fieldConfig?: { defaults?: { unit?: string } };
  targets?: Target[];
}

describe('dashboards', () => {
  test('when rendered, then the committed dashboards/json matches file for file (run `make dashboards` otherwise)', () => {
    const committed = fs
      .readdirSync(JSON_DIR)
      .filter((f) => f.endsWith('.json'))
      .sort();
    expect(committed).toEqual(dashboards.map((d) => `${d.uid}.json`).sort());
    for (const d of dashboards)
      expect(fs.readFileSync(path.join(JSON_DIR, `${d.uid}.json`), 'utf8')).toBe(`${JSON.stringify(d, null, 2)}\n`);
  });

  test.each(dashboards.map((d) => [d.uid!, d] as const))(
    'when %s is rendered, then it has a uid, a description, the $datasource variable and uses $__rate_interval',
    (_uid, d) => {
      expect(d.uid).toMatch(/^[a-z0-9-]{1,40}$/);
      expect(d.description).toBeTruthy();
      expect(d.templating?.list?.find((v) => v.name === 'datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
      expect(JSON.stringify(d)).toContain('$__rate_interval');
    },
  );

  test.each(dashboards.flatMap((d) => (d.panels as PanelJson[]).map((p) => [`${d.uid} / ${p.title}`, p] as const)))(
    'when panel %s is rendered, then it has a description, a unit and refIds, and reads $datasource',
    (_name, panel) => {
      expect(panel.description).toBeTruthy();
      expect(panel.fieldConfig?.defaults?.unit).toBeTruthy();
      expect(panel.datasource?.uid).toBe('${datasource}');
      const targets = panel.targets ?? [];
      expect(targets.length).toBeGreaterThan(0);
      expect(new Set(targets.map((t) => t.refId)).size).toBe(targets.length);
      for (const t of targets) {
        expect(t.datasource?.uid).toBe('${datasource}');
        // Every range selector is $__rate_interval: no hard-coded windows that break at other scrape intervals.
        expect(t.expr).not.toMatch(/\[\d+[smhd]\]/);
      }
    },
  );
});

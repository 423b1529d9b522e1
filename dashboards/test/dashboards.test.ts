/** Every dashboard follows the conventions, and dashboards/json is what dashboards/src renders. */
import fs from 'node:fs';
import path from 'node:path';
import { allDashboards } from '../src/index';

const JSON_DIR = path.join(__dirname, '..', 'json');
const dashboards = allDashboards();
/** A dashboard's panels without its rows (a row is a heading: no query, no unit). */
const panelsOf = (d: (typeof dashboards)[number]) => (d.panels as PanelJson[]).filter((p) => p.type !== 'row');

interface Target {
  refId?: string;
  expr?: string;
  datasource?: { uid?: string };
}
interface PanelJson {
  type?: string;
  title?: string;
  options?: { legend?: { showLegend?: boolean; displayMode?: string; calcs?: string[] } };
  description?: string;
  datasource?: { uid?: string };
  fieldConfig?: {
    defaults?: { unit?: string; thresholds?: { steps?: Array<{ value: number | null; color: string }> }; custom?: Record<string, unknown> };
  };
  targets?: Target[];
}

describe('dashboards/json', () => {
  test('when rendered, then the committed dashboards/json matches file for file (run `make dashboards` otherwise)', () => {
    const committed = fs
      .readdirSync(JSON_DIR)
      .filter((f) => f.endsWith('.json'))
      .sort();
    expect(committed).toEqual(dashboards.map((d) => `${d.uid}.json`).sort());
    for (const d of dashboards)
      expect(fs.readFileSync(path.join(JSON_DIR, `${d.uid}.json`), 'utf8')).toBe(`${JSON.stringify(d, null, 2)}\n`);
  });
});

describe('every dashboard', () => {
  test.each(dashboards.map((d) => [d.uid!, d] as const))(
    'when %s is rendered, then it has a uid, a description, the $datasource variable and uses $__rate_interval',
    (_uid, d) => {
      expect(d.uid).toMatch(/^[a-z0-9-]{1,40}$/);
      expect(d.description).toBeTruthy();
      expect(d.templating?.list?.find((v) => v.name === 'datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
      expect(JSON.stringify(d)).toContain('$__rate_interval');
    },
  );

  test.each(dashboards.map((d) => [d.uid!, d] as const))(
    'when %s is rendered, then it links to every dashboard of the stack, marks deploys, and defines every variable its panels use',
    (_uid, d) => {
      expect(d.tags).toContain('event-stack');
      expect(d.links).toEqual([expect.objectContaining({ type: 'dashboards', tags: ['event-stack'], keepTime: true })]);
      expect(d.annotations?.list?.find((a) => a.name === 'Deploys')?.expr).toContain('app_build_info');
      const defined = new Set((d.templating?.list ?? []).map((v) => v.name));
      const used = new Set(
        panelsOf(d).flatMap((p) => (p.targets ?? []).flatMap((t) => [...(t.expr ?? '').matchAll(/\$\{?([a-z]\w*)/g)].map((m) => m[1]!))),
      );
      expect([...used].filter((v) => !defined.has(v))).toEqual([]);
    },
  );
});

describe('every panel', () => {
  test.each(dashboards.flatMap((d) => panelsOf(d).map((p) => [`${d.uid} / ${p.title}`, p] as const)))(
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

  const timeseriesPanels = dashboards.flatMap((d) =>
    panelsOf(d)
      .filter((p) => p.type === 'timeseries')
      .map((p) => [`${d.uid} / ${p.title}`, p] as const),
  );

  test.each(timeseriesPanels)(
    'when time series panel %s is rendered, then its legend is a table with the last and max values',
    (_name, panel) => {
      expect(panel.options?.legend).toMatchObject({ showLegend: true, displayMode: 'table', calcs: ['lastNotNull', 'max'] });
    },
  );

  const statPanels = dashboards.flatMap((d) =>
    panelsOf(d)
      .filter((p) => p.type === 'stat')
      .map((p) => [`${d.uid} / ${p.title}`, p] as const),
  );

  test.each(statPanels)('when stat panel %s is rendered, then it colours its value by explicit thresholds', (_name, panel) => {
    const steps = panel.fieldConfig?.defaults?.thresholds?.steps ?? [];
    expect(steps.length).toBeGreaterThan(0);
    expect(steps[0]!.value).toBeNull();
    // Grafana's default (green, red from 80) would judge a ratio, a duration or a yes/no by nonsense.
    expect(steps).not.toEqual([
      { value: null, color: 'green' },
      { value: 80, color: 'red' },
    ]);
  });
});

describe('the SLO dashboard', () => {
  test('when the SLO dashboard is rendered, then the error budget is red below 0 and amber below 25%, and burn rates show the alert levels', () => {
    const panels = dashboards.find((d) => d.uid === 'event-service-slo')!.panels as PanelJson[];
    const budget = panels.filter((p) => /error budget/.test(p.title ?? ''));
    expect(budget.length).toBe(4); // remaining (stat) and burn-down (30 d) for both SLOs
    for (const p of budget)
      expect(p.fieldConfig?.defaults?.thresholds?.steps).toEqual([
        { value: null, color: 'red' },
        { value: 0, color: 'orange' },
        { value: 0.25, color: 'green' },
      ]);
    const burn = panels.filter((p) => /burn rates/.test(p.title ?? ''));
    expect(burn.length).toBe(2);
    for (const p of burn) {
      expect(p.fieldConfig?.defaults?.thresholds?.steps?.map((s) => s.value)).toEqual([null, 1, 3, 6, 14.4]);
      expect(p.fieldConfig?.defaults?.custom?.thresholdsStyle).toEqual({ mode: 'dashed' });
    }
  });
});

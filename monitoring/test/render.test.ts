/** The rendered Prometheus and Alertmanager configuration, checked by the real promtool and amtool. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import {
  ALERTMANAGER_TEMPLATE,
  overrideAlertFor,
  renderAlertmanagerConfig,
  renderGrafanaDashboardProvider,
  renderGrafanaDatasources,
  renderPrometheusConfig,
  type PrometheusConfigInput,
  ruleFilePaths,
  GRAFANA_DATASOURCE_UID,
  POSTGRES_EXPORTER_JOB,
  PROMETHEUS_JOB,
  REDIS_EXPORTER_JOB,
} from '../src';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'monitoring-config-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function check(tool: string, args: string[]): { ok: boolean; output: string } {
  try {
    return { ok: true, output: execFileSync(tool, args, { stdio: 'pipe' }).toString() };
  } catch (err) {
    const e = err as { stdout?: Buffer; stderr?: Buffer };
    return { ok: false, output: `${e.stdout?.toString() ?? ''}${e.stderr?.toString() ?? ''}` };
  }
}

const prometheusInput = {
  appTargets: ['127.0.0.1:8080', '127.0.0.1:8081'],
  pushgatewayTarget: '127.0.0.1:9091',
  alertmanagerTargets: ['127.0.0.1:9093'],
  prometheusTarget: '127.0.0.1:9090',
  postgresExporterTargets: ['127.0.0.1:9187'],
  redisExporterTargets: ['127.0.0.1:9121'],
  ruleFiles: ruleFilePaths(),
  scrapeInterval: '15s',
  evaluationInterval: '15s',
  externalLabels: { stage: 'test' },
};

describe('renderPrometheusConfig', () => {
  test('when rendered with every rule file, then promtool check config accepts it and the Pushgateway is scraped with honor_labels', () => {
    const file = path.join(tmp, 'prometheus.yml');
    fs.writeFileSync(file, renderPrometheusConfig(prometheusInput));
    const result = check('promtool', ['check', 'config', file]);
    expect(result.output).toContain('SUCCESS');
    expect(result.ok).toBe(true);
    const config = YAML.parse(fs.readFileSync(file, 'utf8')) as { scrape_configs: Array<{ job_name: string; honor_labels?: boolean }> };
    expect(config.scrape_configs.find((s) => s.job_name === 'pushgateway')?.honor_labels).toBe(true);
    expect(config.scrape_configs.find((s) => s.job_name === 'event-service')?.honor_labels).toBeUndefined();
  });

  test('when rendered, then Prometheus scrapes itself and each exporter, and an exporter that does not run gets no job', () => {
    const jobs = (input: PrometheusConfigInput) =>
      (
        YAML.parse(renderPrometheusConfig(input)) as {
          scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }>;
        }
      ).scrape_configs.map((j) => `${j.job_name} ${j.static_configs[0]!.targets.join(',')}`);
    expect(jobs(prometheusInput)).toEqual(
      expect.arrayContaining([
        `${PROMETHEUS_JOB} 127.0.0.1:9090`,
        `${POSTGRES_EXPORTER_JOB} 127.0.0.1:9187`,
        `${REDIS_EXPORTER_JOB} 127.0.0.1:9121`,
      ]),
    );
    const without = jobs({ ...prometheusInput, postgresExporterTargets: [], redisExporterTargets: undefined });
    expect(without.filter((j) => j.includes('exporter'))).toEqual([]);
  });

  test('when a target is not host:port or the timeout exceeds the interval, then rendering refuses', () => {
    expect(() => renderPrometheusConfig({ ...prometheusInput, appTargets: ['http://127.0.0.1:8080'] })).toThrow(/host:port/);
    expect(() => renderPrometheusConfig({ ...prometheusInput, scrapeInterval: '1s', scrapeTimeout: '2s' })).toThrow(/scrapeTimeout/);
    expect(() => renderPrometheusConfig({ ...prometheusInput, ruleFiles: [] })).toThrow(/ruleFiles/);
  });
});

describe('renderAlertmanagerConfig', () => {
  test('when the template is read, then it holds no receiver URL, only placeholders', () => {
    const template = fs.readFileSync(ALERTMANAGER_TEMPLATE, 'utf8');
    expect(template).not.toMatch(/https?:\/\//);
    expect(template).toContain('${PAGER_WEBHOOK_URL}');
    expect(template).toContain('${TICKET_WEBHOOK_URL}');
    expect(template).toContain('${HEARTBEAT_WEBHOOK_URL}');
  });

  test('when rendered with receiver URLs, then amtool accepts it and each receiver posts to its URL', () => {
    const file = path.join(tmp, 'alertmanager.yml');
    const text = renderAlertmanagerConfig({
      pagerUrl: 'https://pager.example/hook?key=a#b',
      ticketUrl: 'http://127.0.0.1:9/ticket',
      heartbeatUrl: 'https://heartbeat.example/ping/uuid',
    });
    fs.writeFileSync(file, text);
    expect(check('amtool', ['check-config', file]).ok).toBe(true);
    const config = YAML.parse(text) as { receivers: Array<{ name: string; webhook_configs: Array<{ url: string }> }> };
    const url = (name: string) => config.receivers.find((r) => r.name === name)?.webhook_configs[0]?.url;
    expect(url('pager')).toBe('https://pager.example/hook?key=a#b');
    expect(url('ticket')).toBe('http://127.0.0.1:9/ticket');
    expect(url('heartbeat')).toBe('https://heartbeat.example/ping/uuid');
  });

  test('when a receiver URL is missing or not http(s), then rendering refuses instead of writing a half configuration', () => {
    expect(() =>
      renderAlertmanagerConfig({ pagerUrl: '', ticketUrl: 'http://127.0.0.1:9/t', heartbeatUrl: 'http://127.0.0.1:9/h' }),
    ).toThrow(/pagerUrl/);
    expect(() =>
      renderAlertmanagerConfig({ pagerUrl: 'http://127.0.0.1:9/p', ticketUrl: 'ftp://x/y', heartbeatUrl: 'http://127.0.0.1:9/h' }),
    ).toThrow(/ticketUrl/);
  });

  test('when test timings are given, then only the root route timings change', () => {
    const config = YAML.parse(
      renderAlertmanagerConfig({
        pagerUrl: 'http://127.0.0.1:9/p',
        ticketUrl: 'http://127.0.0.1:9/t',
        heartbeatUrl: 'http://127.0.0.1:9/h',
        timing: { groupWait: '1s', groupInterval: '2s' },
      }),
    ) as { route: Record<string, unknown> };
    expect(config.route).toMatchObject({ group_wait: '1s', group_interval: '2s', repeat_interval: '12h', receiver: 'ticket' });
  });
});

describe('overrideAlertFor', () => {
  const file = ruleFilePaths().find((f) => f.endsWith('service.yml'))!;
  const original = fs.readFileSync(file, 'utf8');
  type Groups = { groups: Array<{ rules: Array<{ alert?: string; for?: string; expr: string }> }> };
  const rules = (text: string) => (YAML.parse(text) as Groups).groups.flatMap((g) => g.rules);

  test('when one alert is overridden, then only its for changes and the copy still passes promtool', () => {
    const copy = overrideAlertFor(original, { EventServicePostgresUnreachable: '1s' });
    const before = rules(original);
    const after = rules(copy);
    expect(after.map((r) => r.expr)).toEqual(before.map((r) => r.expr));
    after.forEach((r, i) => expect(r.for).toBe(r.alert === 'EventServicePostgresUnreachable' ? '1s' : before[i]!.for));
    const out = path.join(tmp, 'rules.yml');
    fs.writeFileSync(out, copy);
    expect(check('promtool', ['check', 'rules', out]).ok).toBe(true);
  });

  test('when the named alert does not exist, then it throws', () => {
    expect(() => overrideAlertFor(original, { NoSuchAlert: '1s' })).toThrow(/NoSuchAlert/);
  });
});

describe('Grafana provisioning', () => {
  test('when rendered, then the datasource has the fixed uid and the provider loads the given directory', () => {
    const ds = YAML.parse(renderGrafanaDatasources({ prometheusUrl: 'http://127.0.0.1:9090' })) as {
      datasources: Array<Record<string, unknown>>;
    };
    expect(ds.datasources[0]).toMatchObject({ uid: GRAFANA_DATASOURCE_UID, type: 'prometheus', url: 'http://127.0.0.1:9090' });
    const provider = YAML.parse(renderGrafanaDashboardProvider({ dashboardsDir: '/d/json' })) as {
      providers: Array<{ options: { path: string } }>;
    };
    expect(provider.providers[0]?.options.path).toBe('/d/json');
  });
});

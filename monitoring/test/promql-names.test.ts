/** Reading metric names out of PromQL with Prometheus's own grammar. */
import { metricReferences } from '../src/promql-names';
import { APP_JOB, SERVICE_METRICS } from '../src';
import {
  apiRequestCount,
  availabilityErrorRatio,
  burnRate,
  latencyErrorRatio,
  newestProcessStart,
  PROCESS_START_METRIC,
} from '../src/promql';

test('when an expression selects metrics by name, by __name__ and under a job, then each name is found with its job', () => {
  const expr =
    'sum by (job) (rate({job="a",__name__=~"x_total|y_total"}[5m])) / on (job) rec:ratio{slo="s"} unless absent(up{job="b"}) or histogram_quantile(0.9, h_bucket) offset 5m';
  expect(metricReferences(expr)).toEqual([
    { name: 'x_total', job: 'a' },
    { name: 'y_total', job: 'a' },
    { name: 'rec:ratio' },
    { name: 'up', job: 'b' },
    { name: 'h_bucket' },
  ]);
});

test('when an expression has only functions, labels and numbers, then it references no metric', () => {
  expect(metricReferences('vector(1) > bool 0')).toEqual([]);
  expect(metricReferences('time() - 5')).toEqual([]);
});

test('when the SLI builder is read, then it references the request counter only', () => {
  expect([...new Set(metricReferences(availabilityErrorRatio('5m')).map((r) => `${r.name} ${r.job}`))]).toEqual([
    `${SERVICE_METRICS.httpRequests.name} ${APP_JOB}`,
  ]);
});

test('when an expression does not parse, or a __name__ regex is not a list of names, then the reader refuses', () => {
  expect(() => metricReferences('sum(rate(x[5m])')).toThrow(/PromQL syntax error/);
  expect(() => metricReferences('{__name__=~"x.*"}')).toThrow(/cannot tell which metrics/);
});

test('when a builder is scoped to a version, then it joins the series to app_build_info of that version', () => {
  const names = (expr: string) => [...new Set(metricReferences(expr).map((r) => `${r.name} ${r.job}`))].sort();
  const info = `${SERVICE_METRICS.buildInfo.name} ${APP_JOB}`;
  expect(names(burnRate('availability', '5m', { version: '1.2.3' }))).toEqual(
    [`${SERVICE_METRICS.httpRequests.name} ${APP_JOB}`, info].sort(),
  );
  expect(names(apiRequestCount('10m', { version: '1.2.3' }))).toEqual([`${SERVICE_METRICS.httpRequests.name} ${APP_JOB}`, info].sort());
  expect(names(newestProcessStart('1.2.3'))).toEqual([info, `${PROCESS_START_METRIC} ${APP_JOB}`].sort());
  expect(latencyErrorRatio('5m', { version: '{{args.version}}' })).toContain('version="{{args.version}}"');
});

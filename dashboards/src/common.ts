/**
 * Defaults shared by every dashboard: the $datasource and $instance variables, selectors, links between the
 * dashboards, deploy annotations, and small builders for queries and panels that always carry a description,
 * a unit, a refId and a legend.
 */
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import {
  AnnotationQueryBuilder,
  DashboardBuilder,
  DashboardCursorSync,
  DashboardLinkBuilder,
  DashboardLinkType,
  DatasourceVariableBuilder,
  QueryVariableBuilder,
  RowBuilder,
  ThresholdsConfigBuilder,
  ThresholdsMode,
  VariableRefresh,
  VariableSort,
} from '@grafana/grafana-foundation-sdk/dashboard';
import type { Dashboard, Panel } from '@grafana/grafana-foundation-sdk/dashboard';
import { DataqueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as StatBuilder } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as TimeseriesBuilder } from '@grafana/grafana-foundation-sdk/timeseries';
import {
  BigValueColorMode,
  BigValueGraphMode,
  BigValueTextMode,
  GraphThresholdsStyleConfigBuilder,
  GraphThresholdsStyleMode,
  LegendDisplayMode,
  LegendPlacement,
  ReduceDataOptionsBuilder,
  VizLegendOptionsBuilder,
} from '@grafana/grafana-foundation-sdk/common';
import {
  API_ROUTE_MATCHER,
  apiRequestSelector,
  APP_JOB,
  appSelector,
  GRAFANA_DATASOURCE_UID,
  MAINTENANCE_JOB,
  SERVICE_METRICS as S,
} from '../../monitoring/src';

/** Every panel and query reads from the datasource the $datasource variable selects. */
export const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };

/** Label selector of the service's own series, narrowed by the $instance variable. */
export const APP = `job="${APP_JOB}",instance=~"$instance"`;
/** Label selector of the maintenance job's pushed series. */
export const JOB = `job="${MAINTENANCE_JOB}"`;
/** Requests that count for the SLOs: the API routes, not probes or scrapes. */
export const API = `${APP},${API_ROUTE_MATCHER}`;
/** The same requests across every instance: the SLOs are about the service, and the SLO dashboard has no $instance. */
export const API_ALL = apiRequestSelector();

/** The tag every dashboard of the stack carries: the links between them list dashboards by it. */
export const STACK_TAG = 'event-stack';

/** Colour steps from a base colour upwards (Grafana thresholds: each step applies from its value on). */
export type Thresholds = Array<{ from: number | null; color: string }>;

/** A value to read, not to judge (version, rates): plain text colour. */
export const INFO: Thresholds = [{ from: null, color: 'text' }];
/** 1 = up/reachable (green), 0 = down (red). */
export const UP: Thresholds = [
  { from: null, color: 'red' },
  { from: 1, color: 'green' },
];
/** Green below `amber`, amber from it, red from `red` (e.g. the level of the matching alert). */
export const rising = (amber: number, red: number): Thresholds => [
  { from: null, color: 'green' },
  { from: amber, color: 'orange' },
  { from: red, color: 'red' },
];

/** Error budget remaining: red when spent (below 0), amber below 25 %, green otherwise. */
export const BUDGET_THRESHOLDS: Thresholds = [
  { from: null, color: 'red' },
  { from: 0, color: 'orange' },
  { from: 0.25, color: 'green' },
];

export interface Query {
  expr: string;
  legend?: string;
}

function targets(queries: Query[]): cog.Builder<cog.Dataquery>[] {
  return queries.map((q, i) =>
    new DataqueryBuilder()
      .datasource(DATASOURCE)
      .refId(String.fromCharCode(65 + i))
      .expr(q.expr)
      .legendFormat(q.legend ?? '__auto')
      .range(),
  );
}

export interface PanelSpec {
  title: string;
  description: string;
  /** A Grafana unit id (s, bytes, reqps, ops, percentunit, bool_yes_no, …) or `suffix:…`. */
  unit: string;
  queries: Query[];
  width?: number;
  height?: number;
  min?: number;
  max?: number;
  /** Stat panels: show the series name (legend) beside the value, e.g. the running version. */
  showName?: boolean;
  /** Stat panels colour their background by them; time series draw them as dashed lines. */
  thresholds?: Thresholds;
  /** Shows this panel over another range than the dashboard's, e.g. '30d' for the SLO window. */
  timeFrom?: string;
}

function thresholdsConfig(t: Thresholds): ThresholdsConfigBuilder {
  return new ThresholdsConfigBuilder().mode(ThresholdsMode.Absolute).steps(t.map((s) => ({ value: s.from, color: s.color })));
}

export function timeseries(spec: PanelSpec): TimeseriesBuilder {
  const panel = new TimeseriesBuilder()
    .title(spec.title)
    .description(spec.description)
    .datasource(DATASOURCE)
    .unit(spec.unit)
    .targets(targets(spec.queries))
    .span(spec.width ?? 12)
    .height(spec.height ?? 8)
    .fillOpacity(10)
    .lineWidth(1)
    // A table legend with the last and largest value: the series names (p99, 5m burn…) are the point.
    .legend(
      new VizLegendOptionsBuilder()
        .showLegend(true)
        .displayMode(LegendDisplayMode.Table)
        .placement(LegendPlacement.Bottom)
        .calcs(['lastNotNull', 'max']),
    );
  if (spec.min !== undefined) panel.min(spec.min);
  if (spec.max !== undefined) panel.max(spec.max);
  if (spec.thresholds) {
    panel.thresholds(thresholdsConfig(spec.thresholds));
    panel.thresholdsStyle(new GraphThresholdsStyleConfigBuilder().mode(GraphThresholdsStyleMode.Dashed));
  }
  if (spec.timeFrom) panel.timeFrom(spec.timeFrom);
  return panel;
}

/** Every stat judges its value with explicit colours (Grafana's default, red from 80, fits no unit here). */
export function stat(spec: PanelSpec & { thresholds: Thresholds }): StatBuilder {
  const panel = new StatBuilder()
    .title(spec.title)
    .description(spec.description)
    .datasource(DATASOURCE)
    .unit(spec.unit)
    .targets(targets(spec.queries))
    .graphMode(BigValueGraphMode.None)
    .textMode(spec.showName ? BigValueTextMode.ValueAndName : BigValueTextMode.Auto)
    .reduceOptions(new ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
    .span(spec.width ?? 6)
    .height(spec.height ?? 4);
  if (spec.min !== undefined) panel.min(spec.min);
  if (spec.max !== undefined) panel.max(spec.max);
  panel
    .thresholds(thresholdsConfig(spec.thresholds))
    .colorMode(spec.thresholds === INFO ? BigValueColorMode.None : BigValueColorMode.Background);
  if (spec.timeFrom) panel.timeFrom(spec.timeFrom);
  return panel;
}

/**
 * Deploys: a version of the service that no instance ran 5 minutes earlier. Grafana marks each time this
 * returns a series (one per new version), with the version as the title.
 */
export const DEPLOY_ANNOTATION_EXPR = `count by (version) (${S.buildInfo.name}{${appSelector()}}) unless count by (version) (${S.buildInfo.name}{${appSelector()}} offset 5m)`;

export interface DashboardSpec {
  uid: string;
  title: string;
  description: string;
  tags: string[];
  /** Adds the $instance variable (instances of the service); the batch-job and SLO dashboards have none. */
  instanceVariable: boolean;
  /** Further multi-value variables from label values, e.g. the PostgreSQL databases ($datname). */
  labelVariables?: Array<{ name: string; label: string; metric: string }>;
  panels: Array<cog.Builder<Panel>>;
  /** Rows after the panels, each with a title and its own panels (e.g. the cluster's view of the same pods). */
  rows?: Array<{ title: string; panels: Array<cog.Builder<Panel>> }>;
}

/** A multi-value variable over the values of a label, "All" by default. */
function labelValuesVariable(name: string, label: string, query: string): QueryVariableBuilder {
  return new QueryVariableBuilder(name)
    .label(label)
    .datasource(DATASOURCE)
    .query(query)
    .definition(query)
    .refresh(VariableRefresh.OnTimeRangeChanged)
    .sort(VariableSort.NaturalAsc)
    .multi(true)
    .includeAll(true)
    .allValue('.*')
    .current({ selected: true, text: 'All', value: '$__all' });
}

/** A dashboard with a stable uid, the $datasource (and $instance) variable, and panels laid out left to right. */
export function dashboard(spec: DashboardSpec): Dashboard {
  const builder = new DashboardBuilder(spec.title)
    .uid(spec.uid)
    .description(spec.description)
    .tags([STACK_TAG, ...spec.tags])
    .editable()
    .tooltip(DashboardCursorSync.Crosshair)
    .refresh('30s')
    .time({ from: 'now-3h', to: 'now' })
    .timezone('utc')
    .withVariable(
      new DatasourceVariableBuilder('datasource')
        .label('Data source')
        .type('prometheus')
        .current({ selected: true, text: 'Prometheus', value: GRAFANA_DATASOURCE_UID }),
    )
    // Every other dashboard of the stack, one click away, keeping the time range and the variables.
    .link(
      new DashboardLinkBuilder('Event stack')
        .type(DashboardLinkType.Dashboards)
        .tags([STACK_TAG])
        .asDropdown(false)
        .keepTime(true)
        .includeVars(true),
    )
    .annotation(
      new AnnotationQueryBuilder()
        .name('Deploys')
        .datasource(DATASOURCE)
        .enable(true)
        .iconColor('blue')
        .expr(DEPLOY_ANNOTATION_EXPR)
        .step('1m')
        .titleFormat('deploy {{version}}')
        .textFormat('version {{version}} started'),
    );
  if (spec.instanceVariable)
    builder.withVariable(labelValuesVariable('instance', 'Instance', `label_values(up{job="${APP_JOB}"}, instance)`));
  for (const v of spec.labelVariables ?? [])
    builder.withVariable(labelValuesVariable(v.name, v.label, `label_values(${v.metric}, ${v.name})`));
  for (const panel of spec.panels) builder.withPanel(panel);
  for (const row of spec.rows ?? []) {
    builder.withRow(new RowBuilder(row.title));
    for (const panel of row.panels) builder.withPanel(panel);
  }
  const built = builder.build();
  // Stable panel ids, in layout order: links to a panel (viewPanel=N) survive regeneration.
  built.panels?.forEach((p, i) => (p.id = i + 1));
  return built;
}

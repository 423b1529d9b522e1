/**
 * Defaults shared by every dashboard: the $datasource and $instance variables, selectors, and small
 * builders for queries and panels that always carry a description, a unit and a refId.
 */
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import {
  DashboardBuilder,
  DashboardCursorSync,
  DatasourceVariableBuilder,
  QueryVariableBuilder,
  VariableRefresh,
  VariableSort,
} from '@grafana/grafana-foundation-sdk/dashboard';
import type { Dashboard, Panel } from '@grafana/grafana-foundation-sdk/dashboard';
import { DataqueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as StatBuilder } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as TimeseriesBuilder } from '@grafana/grafana-foundation-sdk/timeseries';
import { BigValueGraphMode, BigValueTextMode, ReduceDataOptionsBuilder } from '@grafana/grafana-foundation-sdk/common';
import { APP_JOB, GRAFANA_DATASOURCE_UID, MAINTENANCE_JOB } from '../../monitoring/src';

/** Every panel and query reads from the datasource the $datasource variable selects. */
export const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };

/** Label selector of the service's own series, narrowed by the $instance variable. */
export const APP = `job="${APP_JOB}",instance=~"$instance"`;
/** Label selector of the maintenance job's pushed series. */
export const JOB = `job="${MAINTENANCE_JOB}"`;
/** Requests that count for the SLOs: the API routes, not probes or scrapes. */
export const API = `${APP},route=~"/api/v1/.+"`;

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
    .lineWidth(1);
  if (spec.min !== undefined) panel.min(spec.min);
  if (spec.max !== undefined) panel.max(spec.max);
  return panel;
}

export function stat(spec: PanelSpec): StatBuilder {
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
  return panel;
}

export interface DashboardSpec {
  uid: string;
  title: string;
  description: string;
  tags: string[];
  /** Adds the $instance variable (instances of the service); the batch-job and SLO dashboards have none. */
  instanceVariable: boolean;
  panels: Array<cog.Builder<Panel>>;
}

/** A dashboard with a stable uid, the $datasource (and $instance) variable, and panels laid out left to right. */
export function dashboard(spec: DashboardSpec): Dashboard {
  const builder = new DashboardBuilder(spec.title)
    .uid(spec.uid)
    .description(spec.description)
    .tags(['event-stack', ...spec.tags])
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
    );
  if (spec.instanceVariable) {
    builder.withVariable(
      new QueryVariableBuilder('instance')
        .label('Instance')
        .datasource(DATASOURCE)
        .query(`label_values(up{job="${APP_JOB}"}, instance)`)
        .definition(`label_values(up{job="${APP_JOB}"}, instance)`)
        .refresh(VariableRefresh.OnTimeRangeChanged)
        .sort(VariableSort.NaturalAsc)
        .multi(true)
        .includeAll(true)
        .allValue('.*')
        .current({ selected: true, text: 'All', value: '$__all' }),
    );
  }
  for (const panel of spec.panels) builder.withPanel(panel);
  const built = builder.build();
  // Stable panel ids, in layout order: links to a panel (viewPanel=N) survive regeneration.
  built.panels?.forEach((p, i) => (p.id = i + 1));
  return built;
}

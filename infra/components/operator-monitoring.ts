/**
 * Monitoring through the cluster's Prometheus Operator (operator mode): what scrapes the stack, its rules, its
 * alert routes and its dashboards, as custom resources the operator's Prometheus, Alertmanager and Grafana
 * sidecar pick up. Everything comes from the same sources as bundled mode (alerts/rules, alerts/alertmanager.yml,
 * dashboards/json, the job names of the monitoring contract).
 */
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import type { AlertReceivers } from '../config';
import { alertmanagerConfigSpec, APP_JOB, CNPG_JOB, prometheusRuleSpec, PUSHGATEWAY_JOB } from '../../monitoring/src';
import { childOptions, labelsFor, selectorFor } from './workload';

/** The label kube-prometheus-stack's Grafana sidecar loads dashboard ConfigMaps by (its default). */
export const GRAFANA_DASHBOARD_LABEL = { grafana_dashboard: '1' };
/** Name of the Secret holding the webhook URLs, one key per receiver of alerts/alertmanager.yml. */
export const RECEIVERS_SECRET = 'alertmanager-receivers';
const MONITORING_API = 'monitoring.coreos.com/v1';

export interface OperatorMonitoringArgs {
  namespace: pulumi.Input<string>;
  /** The stack's namespace by name: the Kubernetes rules are scoped to it (the cluster's exporters see every namespace). */
  stackNamespace: string;
  /** Labels the operator's Prometheus and Alertmanager select their monitors, rules and configs by. */
  matchLabels: Record<string, string>;
  scrapeInterval: string;
  /** The app's pods (label app.kubernetes.io/name, component server) and the Services of the pushed and exported metrics. */
  app: { name: string; port: string };
  services: Array<{ job: string; name: string; port: string }>;
  /** CloudNativePG's instance pods (in-cluster database): the labels that select them and their metrics port name. */
  cnpgPods?: { labels: Record<string, string>; port: string };
  receivers: pulumi.Output<AlertReceivers>;
  /** dashboards/json: file name → JSON text. */
  dashboards: Record<string, string>;
  provider: k8s.Provider;
}

export class OperatorMonitoring extends pulumi.ComponentResource {
  constructor(name: string, args: OperatorMonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
    super('event-stack:monitoring:OperatorMonitoring', name, {}, opts);
    const o = () => childOptions(this, args.provider);
    const ns = args.namespace;
    const meta = (objectName: string, extra: Record<string, string> = {}) => ({
      name: objectName,
      namespace: ns,
      labels: { ...labelsFor('event-stack-monitoring'), ...args.matchLabels, ...extra },
    });
    // The job label the rules and dashboards select on, and the pod name as a stable instance name.
    const relabelings = (job: string) => [
      { action: 'replace', targetLabel: 'job', replacement: job },
      { action: 'replace', sourceLabels: ['__meta_kubernetes_pod_name'], targetLabel: 'instance' },
    ];

    new k8s.apiextensions.CustomResource(
      `${name}-app`,
      {
        apiVersion: MONITORING_API,
        kind: 'PodMonitor',
        metadata: meta(args.app.name),
        spec: {
          selector: { matchLabels: selectorFor(args.app.name, 'server') },
          podMetricsEndpoints: [
            { port: args.app.port, path: '/metrics', interval: args.scrapeInterval, relabelings: relabelings(APP_JOB) },
          ],
        },
      },
      o(),
    );
    // CloudNativePG deprecated its own enablePodMonitor: the PodMonitor is ours, with the labels its dashboards use.
    if (args.cnpgPods)
      new k8s.apiextensions.CustomResource(
        `${name}-cnpg`,
        {
          apiVersion: MONITORING_API,
          kind: 'PodMonitor',
          metadata: meta(CNPG_JOB),
          spec: {
            selector: { matchLabels: args.cnpgPods.labels },
            podMetricsEndpoints: [
              {
                port: args.cnpgPods.port,
                interval: args.scrapeInterval,
                relabelings: [
                  ...relabelings(CNPG_JOB),
                  { action: 'replace', sourceLabels: ['__meta_kubernetes_pod_label_cnpg_io_cluster'], targetLabel: 'cluster' },
                  { action: 'replace', sourceLabels: ['__meta_kubernetes_pod_name'], targetLabel: 'pod' },
                ],
              },
            ],
          },
        },
        o(),
      );
    for (const svc of args.services)
      new k8s.apiextensions.CustomResource(
        `${name}-${svc.name}`,
        {
          apiVersion: MONITORING_API,
          kind: 'ServiceMonitor',
          metadata: meta(svc.name),
          spec: {
            selector: { matchLabels: selectorFor(svc.name) },
            endpoints: [
              {
                port: svc.port,
                interval: args.scrapeInterval,
                // Pushed series keep the job label the maintenance job pushed them with.
                ...(svc.job === PUSHGATEWAY_JOB ? { honorLabels: true } : {}),
                relabelings: relabelings(svc.job),
              },
            ],
          },
        },
        o(),
      );
    new k8s.apiextensions.CustomResource(
      `${name}-rules`,
      {
        apiVersion: MONITORING_API,
        kind: 'PrometheusRule',
        metadata: meta('event-stack'),
        spec: prometheusRuleSpec(undefined, args.stackNamespace),
      },
      o(),
    );
    const urls = new k8s.core.v1.Secret(
      `${name}-receivers`,
      {
        metadata: { name: RECEIVERS_SECRET, namespace: ns, labels: labelsFor('event-stack-monitoring') },
        stringData: pulumi.secret(args.receivers.apply((r) => ({ pager: r.pager, ticket: r.ticket, heartbeat: r.heartbeat }))),
      },
      o(),
    );
    new k8s.apiextensions.CustomResource(
      `${name}-alertmanager-config`,
      {
        apiVersion: 'monitoring.coreos.com/v1alpha1',
        kind: 'AlertmanagerConfig',
        metadata: meta('event-stack'),
        spec: alertmanagerConfigSpec(RECEIVERS_SECRET),
      },
      { ...o(), dependsOn: [urls] },
    );
    for (const [file, json] of Object.entries(args.dashboards)) {
      const uid = file.replace(/\.json$/, '');
      new k8s.core.v1.ConfigMap(
        `${name}-dashboard-${uid}`,
        {
          metadata: { name: `dashboard-${uid}`, namespace: ns, labels: { ...labelsFor('grafana-dashboards'), ...GRAFANA_DASHBOARD_LABEL } },
          data: { [file]: json },
        },
        o(),
      );
    }
    this.registerOutputs({});
  }
}

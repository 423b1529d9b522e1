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
import type { KubernetesComponentOptions } from './options';
import { labelsFor, selectorFor } from './workload';

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
}

type CnpgPods = NonNullable<OperatorMonitoringArgs['cnpgPods']>;
type MonitoredService = OperatorMonitoringArgs['services'][number];

/** A custom resource of the operator's API: its kind, object name and spec. */
interface MonitoringResource {
  apiVersion?: string;
  kind: string;
  name: string;
  spec: pulumi.Input<object>;
}

export class OperatorMonitoring extends pulumi.ComponentResource {
  private readonly args: OperatorMonitoringArgs;

  constructor(name: string, args: OperatorMonitoringArgs, opts: KubernetesComponentOptions) {
    super('event-stack:monitoring:OperatorMonitoring', name, {}, opts);
    this.args = args;
    this.appMonitor(name);
    // CloudNativePG deprecated its own enablePodMonitor: the PodMonitor is ours, with the labels its dashboards use.
    if (args.cnpgPods) this.cnpgMonitor(name, args.cnpgPods);
    for (const svc of args.services) this.serviceMonitor(name, svc);
    this.monitoringResource(`${name}-rules`, {
      kind: 'PrometheusRule',
      name: 'event-stack',
      spec: prometheusRuleSpec(undefined, args.stackNamespace),
    });
    this.alertRoutes(name);
    for (const [file, json] of Object.entries(args.dashboards)) this.dashboard(name, file, json);
    this.registerOutputs({});
  }

  /** A custom resource the operator picks up: in the namespace, with the labels its Prometheus or Alertmanager selects. */
  private monitoringResource(resourceName: string, resource: MonitoringResource, extra: pulumi.CustomResourceOptions = {}): void {
    const { apiVersion = MONITORING_API, kind, name, spec } = resource;
    const metadata = { name, namespace: this.args.namespace, labels: { ...labelsFor('event-stack-monitoring'), ...this.args.matchLabels } };
    new k8s.apiextensions.CustomResource(resourceName, { apiVersion, kind, metadata, spec }, { parent: this, ...extra });
  }

  /** The app's pods, each scraped as its own instance. */
  private appMonitor(name: string): void {
    const { app, scrapeInterval } = this.args;
    const endpoint = { port: app.port, path: '/metrics', interval: scrapeInterval, relabelings: relabelings(APP_JOB) };
    this.monitoringResource(`${name}-app`, {
      kind: 'PodMonitor',
      name: app.name,
      spec: { selector: { matchLabels: selectorFor(app.name, 'server') }, podMetricsEndpoints: [endpoint] },
    });
  }

  /** CloudNativePG's instance pods, with the cluster and pod labels its dashboards use. */
  private cnpgMonitor(name: string, pods: CnpgPods): void {
    const endpoint = {
      port: pods.port,
      interval: this.args.scrapeInterval,
      relabelings: [
        ...relabelings(CNPG_JOB),
        { action: 'replace', sourceLabels: ['__meta_kubernetes_pod_label_cnpg_io_cluster'], targetLabel: 'cluster' },
        { action: 'replace', sourceLabels: ['__meta_kubernetes_pod_name'], targetLabel: 'pod' },
      ],
    };
    this.monitoringResource(`${name}-cnpg`, {
      kind: 'PodMonitor',
      name: CNPG_JOB,
      spec: { selector: { matchLabels: pods.labels }, podMetricsEndpoints: [endpoint] },
    });
  }

  private serviceMonitor(name: string, svc: MonitoredService): void {
    const endpoint = {
      port: svc.port,
      interval: this.args.scrapeInterval,
      // Pushed series keep the job label the maintenance job pushed them with.
      ...(svc.job === PUSHGATEWAY_JOB ? { honorLabels: true } : {}),
      relabelings: relabelings(svc.job),
    };
    this.monitoringResource(`${name}-${svc.name}`, {
      kind: 'ServiceMonitor',
      name: svc.name,
      spec: { selector: { matchLabels: selectorFor(svc.name) }, endpoints: [endpoint] },
    });
  }

  /** The alert routes, whose receivers' webhook URLs are read from a Secret of their own. */
  private alertRoutes(name: string): void {
    const urls = new k8s.core.v1.Secret(
      `${name}-receivers`,
      {
        metadata: { name: RECEIVERS_SECRET, namespace: this.args.namespace, labels: labelsFor('event-stack-monitoring') },
        stringData: pulumi.secret(this.args.receivers.apply((r) => ({ pager: r.pager, ticket: r.ticket, heartbeat: r.heartbeat }))),
      },
      { parent: this },
    );
    const routes = {
      apiVersion: 'monitoring.coreos.com/v1alpha1',
      kind: 'AlertmanagerConfig',
      name: 'event-stack',
      spec: alertmanagerConfigSpec(RECEIVERS_SECRET),
    };
    this.monitoringResource(`${name}-alertmanager-config`, routes, { dependsOn: [urls] });
  }

  /** One dashboard, as a ConfigMap the Grafana sidecar loads. */
  private dashboard(name: string, file: string, json: string): void {
    const uid = file.replace(/\.json$/, '');
    new k8s.core.v1.ConfigMap(
      `${name}-dashboard-${uid}`,
      {
        metadata: {
          name: `dashboard-${uid}`,
          namespace: this.args.namespace,
          labels: { ...labelsFor('grafana-dashboards'), ...GRAFANA_DASHBOARD_LABEL },
        },
        data: { [file]: json },
      },
      { parent: this },
    );
  }
}

/** The job label the rules and dashboards select on, and the pod name as a stable instance name. */
function relabelings(job: string) {
  return [
    { action: 'replace', targetLabel: 'job', replacement: job },
    { action: 'replace', sourceLabels: ['__meta_kubernetes_pod_name'], targetLabel: 'instance' },
  ];
}

/**
 * The kube-state-metrics CustomResourceState configuration that exports the CloudNativePG Cluster's desired and
 * ready instances (monitoring/src/cnpg-cluster-state.ts), checked offline: it parses as kube-state-metrics reads it,
 * names a kind and version the vendored CRD serves, every path it reads is a field of that version's schema with
 * a number in it, and the metric names it makes are the ones the rules read and the allowlist lets through.
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import {
  CLUSTER_METRICS,
  CNPG_CLUSTER_STATE_METRICS,
  cnpgClusterStateConfig,
  cnpgClusterStateConfigYaml,
  KUBE_STATE_METRICS_JOB,
} from '../../monitoring/src';

interface Schema {
  type?: string;
  properties?: Record<string, Schema>;
}
interface Crd {
  spec: {
    group: string;
    names: { kind: string; plural: string };
    versions: Array<{ name: string; served: boolean; schema: { openAPIV3Schema: Schema } }>;
  };
}
interface ResourceConfig {
  groupVersionKind: { group: string; version: string; kind: string };
  metricNamePrefix: string;
  labelsFromPath: Record<string, string[]>;
  metrics: Array<{ name: string; help: string; each: { type: string; gauge: { path: string[]; nilIsZero: boolean } } }>;
}

const CRD = YAML.parse(fs.readFileSync(path.join(__dirname, '..', 'crds', 'clusters.postgresql.cnpg.io.yaml'), 'utf8')) as Crd;

/** The schema of the field at `fieldPath`, or undefined when the schema has no such field. */
function fieldSchema(root: Schema, fieldPath: string[]): Schema | undefined {
  return fieldPath.reduce<Schema | undefined>((s, key) => s?.properties?.[key], root);
}

/** What is wrong with a configuration against the vendored CRD: one line each. */
function configProblems(config: { kind: string; spec: { resources: ResourceConfig[] } }, crd: Crd): string[] {
  if (config.kind !== 'CustomResourceStateMetrics') return [`kind is ${config.kind}, not CustomResourceStateMetrics`];
  return config.spec.resources.flatMap((r) => {
    const { group, version, kind } = r.groupVersionKind;
    if (group !== crd.spec.group || kind !== crd.spec.names.kind)
      return [`${group}/${kind} is not the CRD's ${crd.spec.group}/${crd.spec.names.kind}`];
    const served = crd.spec.versions.find((v) => v.name === version && v.served);
    if (!served) return [`version ${version} is not served by the CRD`];
    const schema = served.schema.openAPIV3Schema;
    const labels = Object.entries(r.labelsFromPath)
      .filter(([, p]) => p[0] !== 'metadata') // ObjectMeta: not in the CRD's schema, always there
      .filter(([, p]) => !fieldSchema(schema, p))
      .map(([label, p]) => `label ${label}: ${p.join('.')} is not a field of ${kind} ${version}`);
    const values = r.metrics.flatMap((m) => {
      const field = fieldSchema(schema, m.each.gauge.path);
      if (!field) return [`${m.name}: ${m.each.gauge.path.join('.')} is not a field of ${kind} ${version}`];
      return field.type === 'integer' || field.type === 'number'
        ? []
        : [`${m.name}: ${m.each.gauge.path.join('.')} is a ${field.type}, not a number`];
    });
    return [...labels, ...values];
  });
}

const config = YAML.parse(cnpgClusterStateConfigYaml()) as { kind: string; spec: { resources: ResourceConfig[] } };

describe("kube-state-metrics' configuration for the CloudNativePG Cluster", () => {
  test('when it is parsed from the text kube-state-metrics gets, then it is the configuration, and every path is a number of the served CRD version', () => {
    expect(config).toEqual(cnpgClusterStateConfig());
    expect(configProblems(config, CRD)).toEqual([]);
  });

  test('when a path, the version or the kind is wrong, then the check names it', () => {
    const broken = structuredClone(config);
    const resource = broken.spec.resources[0]!;
    resource.metrics[0]!.each.gauge.path = ['spec', 'replicas'];
    resource.metrics[1]!.each.gauge.path = ['status', 'phase'];
    resource.labelsFromPath.primary = ['status', 'currentPrimaryx'];
    expect(configProblems(broken, CRD)).toEqual([
      'label primary: status.currentPrimaryx is not a field of Cluster v1',
      'cnpg_cluster_spec_instances: spec.replicas is not a field of Cluster v1',
      'cnpg_cluster_status_ready_instances: status.phase is a string, not a number',
    ]);
    resource.groupVersionKind.version = 'v2';
    expect(configProblems(broken, CRD)).toEqual(['version v2 is not served by the CRD']);
    expect(configProblems({ ...broken, kind: 'Config' }, CRD)).toEqual(['kind is Config, not CustomResourceStateMetrics']);
  });

  test('when kube-state-metrics names its metrics (<metricNamePrefix>_<name>), then they are the ones the rules read, and its allowlist lets them through', () => {
    const names = config.spec.resources.flatMap((r) => r.metrics.map((m) => `${r.metricNamePrefix}_${m.name}`));
    expect(names.sort()).toEqual(Object.values(CNPG_CLUSTER_STATE_METRICS).sort());
    const allowlisted = Object.keys(CLUSTER_METRICS[KUBE_STATE_METRICS_JOB]);
    expect(names.filter((n) => !allowlisted.includes(n))).toEqual([]);
  });
});

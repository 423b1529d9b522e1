/** What every workload of the stack shares: labels, the hardened security context, roll-on-change checksums. */
import { createHash } from 'node:crypto';
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import type { Resources, TlsSetting } from '../config';

export const PART_OF = 'event-stack';

/** Standard labels; `name` is also the selector of the service's pods. */
export function labelsFor(name: string, component?: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': name,
    'app.kubernetes.io/part-of': PART_OF,
    'app.kubernetes.io/managed-by': 'pulumi',
    ...(component ? { 'app.kubernetes.io/component': component } : {}),
  };
}

export function selectorFor(name: string, component?: string): Record<string, string> {
  return { 'app.kubernetes.io/name': name, ...(component ? { 'app.kubernetes.io/component': component } : {}) };
}

/** Non-root with a fixed uid, seccomp RuntimeDefault; fsGroup lets the uid write its volumes. */
export function podSecurityContext(uid: number): k8s.types.input.core.v1.PodSecurityContext {
  return { runAsNonRoot: true, runAsUser: uid, runAsGroup: uid, fsGroup: uid, seccompProfile: { type: 'RuntimeDefault' } };
}

export const containerSecurityContext: k8s.types.input.core.v1.SecurityContext = {
  runAsNonRoot: true,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  privileged: false,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

/** Where a managed database's CA bundle (a ConfigMap, key ca.crt) is mounted; DATABASE_CA_FILE names the file. */
export const DATABASE_CA_DIR = '/etc/postgres-ca';
export const DATABASE_CA_FILE = `${DATABASE_CA_DIR}/ca.crt`;

/** The volume and mount of the CA bundle's ConfigMap, or nothing when there is none. */
export function caBundleVolume(configMap: pulumi.Input<string> | undefined) {
  if (!configMap) return { volumes: [], volumeMounts: [] };
  return {
    volumes: [{ name: 'postgres-ca', configMap: { name: configMap, items: [{ key: 'ca.crt', path: 'ca.crt' }] } }],
    volumeMounts: [{ name: 'postgres-ca', mountPath: DATABASE_CA_DIR, readOnly: true }],
  };
}

export function resourcesOf(r: Resources): k8s.types.input.core.v1.ResourceRequirements {
  return { requests: { ...r.requests }, limits: { ...r.limits } };
}

export function httpProbe(path: string, port: number | string, periodSeconds: number, failureThreshold: number) {
  return { httpGet: { path, port }, periodSeconds, failureThreshold, timeoutSeconds: 2 };
}

/** sha256 of a ConfigMap's (or Secret's) data: as a pod-template annotation, a change of the data rolls the pods. */
export function checksumOf(data: pulumi.Input<Record<string, pulumi.Input<string>>>): pulumi.Output<string> {
  return pulumi.output(data).apply((d) => {
    const hash = createHash('sha256');
    for (const k of Object.keys(d).sort()) hash.update(`${k}\0${d[k]}\0`);
    return hash.digest('hex');
  });
}

export function dnsName(service: string, namespace: string): string {
  return `${service}.${namespace}.svc.cluster.local`;
}

/** How the stack's CronJobs run: never two runs at once, a run more than an hour late skipped, three of each outcome kept. */
export const cronJobPolicy = {
  concurrencyPolicy: 'Forbid',
  startingDeadlineSeconds: 3600,
  successfulJobsHistoryLimit: 3,
  failedJobsHistoryLimit: 3,
} satisfies Partial<k8s.types.input.batch.v1.CronJobSpec>;

/**
 * A Role, or for cluster-scoped resources a ClusterRole, allowing `rules`, and its binding to the service account
 * (resources `<prefix>-role` and `<prefix>-binding`; both objects carry `metadata`).
 */
export function grantToAccount(
  prefix: string,
  grant: {
    kind: 'Role' | 'ClusterRole';
    metadata: k8s.types.input.meta.v1.ObjectMeta;
    rules: k8s.types.input.rbac.v1.PolicyRule[];
    account: { name: pulumi.Input<string>; namespace: pulumi.Input<string> };
  },
  opts: pulumi.CustomResourceOptions,
): void {
  const { kind, metadata, rules, account } = grant;
  const role =
    kind === 'Role'
      ? new k8s.rbac.v1.Role(`${prefix}-role`, { metadata, rules }, opts)
      : new k8s.rbac.v1.ClusterRole(`${prefix}-role`, { metadata, rules }, opts);
  const binding = {
    metadata,
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind, name: role.metadata.name },
    subjects: [{ kind: 'ServiceAccount', ...account }],
  };
  if (kind === 'Role') new k8s.rbac.v1.RoleBinding(`${prefix}-binding`, binding, opts);
  else new k8s.rbac.v1.ClusterRoleBinding(`${prefix}-binding`, binding, opts);
}

/** The ClusterIP Service in front of a single-port workload: same name as the workload, one named port. */
export function clusterService(
  resourceName: string,
  svc: { name: string; namespace: pulumi.Input<string>; port: number; portName: string },
  opts: pulumi.CustomResourceOptions,
): k8s.core.v1.Service {
  return new k8s.core.v1.Service(
    resourceName,
    {
      metadata: { name: svc.name, namespace: svc.namespace, labels: labelsFor(svc.name) },
      spec: { selector: selectorFor(svc.name), ports: [{ name: svc.portName, port: svc.port, targetPort: svc.portName }] },
    },
    opts,
  );
}

/**
 * The TLS part of an Ingress for one host: spec.tls naming the Secret, and with cert-manager the issuer
 * annotation that makes it issue the certificate into that Secret.
 */
export function ingressTls(host: string, tls: TlsSetting | undefined) {
  if (!tls) return { annotations: undefined, tls: undefined };
  const annotation = tls.certManager?.kind === 'ClusterIssuer' ? 'cert-manager.io/cluster-issuer' : 'cert-manager.io/issuer';
  return {
    annotations: tls.certManager ? { [annotation]: tls.certManager.name } : undefined,
    tls: [{ hosts: [host], secretName: tls.secretName }],
  };
}

/**
 * What the CloudNativePG operator makes of a `Cluster`: its instance pods and its Services, as the pinned operator
 * (1.29, pkg/specs/pods.go and services.go) creates them. The program declares only the Cluster; the checks see
 * the cluster's pods and Services through this expansion, so flows, selectors and Pod Security hold for them too.
 * Two pod templates stand for the instances: the primary, and (instances ≥ 2) the replicas.
 */
import type { KubernetesObject } from '../kube/model';
import { namespaceOf } from './model';

/* eslint-disable @typescript-eslint/no-explicit-any -- Kubernetes documents are walked structurally here. */

const CLUSTER_LABEL = 'cnpg.io/cluster';
const ROLE_LABEL = 'cnpg.io/instanceRole';
const INSTANCE = { 'cnpg.io/podRole': 'instance' };
/** The instance manager's container ports (pkg/specs/pods.go). */
const PORTS = [
  { name: 'postgresql', containerPort: 5432, protocol: 'TCP' },
  { name: 'metrics', containerPort: 9187, protocol: 'TCP' },
  { name: 'status', containerPort: 8000, protocol: 'TCP' },
];
/** The image's postgres uid and gid (the operator's defaults). */
const UID = 26;

export const isCnpgCluster = (o: KubernetesObject) => o.apiVersion === 'postgresql.cnpg.io/v1' && o.kind === 'Cluster';

function instancePod(cluster: KubernetesObject, role: 'primary' | 'replica'): KubernetesObject {
  const spec = cluster.spec as any;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `${cluster.metadata.name}-${role}`,
      namespace: namespaceOf(cluster),
      labels: { [CLUSTER_LABEL]: cluster.metadata.name, ...INSTANCE, [ROLE_LABEL]: role },
      annotations: { 'event-stack/made-by': `the CloudNativePG operator from Cluster/${cluster.metadata.name}` },
    },
    spec: {
      securityContext: { runAsNonRoot: true, runAsUser: UID, runAsGroup: UID, fsGroup: UID, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: 'postgres',
          image: spec?.imageName,
          ports: PORTS,
          resources: spec?.resources,
          // The operator's CreateContainerSecurityContext (pkg/specs), field by field: a fact about CloudNativePG,
          // not our workloads' choice (components/workload.ts), even where the two agree.
          securityContext: {
            capabilities: { drop: ['ALL'] },
            privileged: false,
            runAsNonRoot: true,
            readOnlyRootFilesystem: true,
            allowPrivilegeEscalation: false,
            seccompProfile: { type: 'RuntimeDefault' },
          },
        },
      ],
    },
  };
}

function service(cluster: KubernetesObject, suffix: string, selector: Record<string, string>): KubernetesObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: `${cluster.metadata.name}-${suffix}`,
      namespace: namespaceOf(cluster),
      labels: { [CLUSTER_LABEL]: cluster.metadata.name },
    },
    spec: { selector, ports: [{ name: 'postgres', port: 5432, targetPort: 5432, protocol: 'TCP' }] },
  };
}

/** The pods and Services the operator would create for each Cluster among the objects. */
export function cnpgManagedObjects(objects: KubernetesObject[]): KubernetesObject[] {
  return objects.filter(isCnpgCluster).flatMap((cluster) => {
    const name = cluster.metadata.name;
    const replicas = Number((cluster.spec as any)?.instances ?? 1) > 1;
    return [
      instancePod(cluster, 'primary'),
      ...(replicas ? [instancePod(cluster, 'replica')] : []),
      service(cluster, 'rw', { [CLUSTER_LABEL]: name, [ROLE_LABEL]: 'primary' }),
      // -ro selects replicas only: with one instance it has no endpoints, and the stack must not read from it.
      ...(replicas ? [service(cluster, 'ro', { [CLUSTER_LABEL]: name, [ROLE_LABEL]: 'replica' })] : []),
      service(cluster, 'r', { [CLUSTER_LABEL]: name, ...INSTANCE }),
    ];
  });
}

/** The objects as a cluster running the operator would hold them. */
export const withCnpgManaged = (objects: KubernetesObject[]) => [...objects, ...cnpgManagedObjects(objects)];

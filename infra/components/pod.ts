/**
 * The pod every workload of the stack runs, and the single-replica Deployment and Service around it: one
 * hardened container (the security contexts of workload.ts), its resources and probes, the labels that select
 * it, and a service-account token only where the pod calls the Kubernetes API. Components differ only in what
 * they pass.
 */
import * as k8s from '@pulumi/kubernetes';
import type * as pulumi from '@pulumi/pulumi';
import type { Resources } from '../config';
import { checksumOf, clusterService, containerSecurityContext, labelsFor, podSecurityContext, resourcesOf, selectorFor } from './workload';

type Container = k8s.types.input.core.v1.Container;
type Probe = k8s.types.input.core.v1.Probe;

/** The workload's one container: the security context is always the hardened one; liveness and readiness are required. */
export type WorkloadContainer = Omit<Container, 'securityContext' | 'resources' | 'livenessProbe' | 'readinessProbe' | 'ports'> & {
  image: pulumi.Input<string>;
  ports: Array<{ name: string; containerPort: number; protocol?: string }>;
  resources: Resources;
  livenessProbe: Probe;
  readinessProbe: Probe;
};

export interface WorkloadPod {
  /** The workload's name: its labels and selector. */
  name: string;
  /** The image's user, also its group and the owner of its volumes. */
  uid: number;
  container: WorkloadContainer;
  volumes?: k8s.types.input.core.v1.Volume[];
  /** Pod-template annotations: the checksums that roll the pods when their configuration changes. */
  annotations?: Record<string, pulumi.Input<string>>;
  /** The service account whose token the pod mounts, for a pod that calls the Kubernetes API; other pods mount none. */
  apiAccount?: pulumi.Input<string>;
}

/** The metadata of an object of workload `workload`: its labels, its namespace, and by default its name. */
export function objectMetadata(workload: string, namespace: pulumi.Input<string>, name: pulumi.Input<string> = workload) {
  return { name, namespace, labels: labelsFor(workload) };
}

/** The selector and pod template of a Deployment or StatefulSet running `pod`. */
export function workloadSpec(pod: WorkloadPod) {
  const { resources, ...container } = pod.container;
  return {
    selector: { matchLabels: selectorFor(pod.name) },
    template: {
      metadata: { labels: labelsFor(pod.name), annotations: pod.annotations },
      spec: {
        serviceAccountName: pod.apiAccount,
        automountServiceAccountToken: pod.apiAccount !== undefined,
        securityContext: podSecurityContext(pod.uid),
        containers: [{ ...container, resources: resourcesOf(resources), securityContext: containerSecurityContext }],
        volumes: pod.volumes,
      },
    },
  };
}

/** One pod at a time: the old pod lets go of its ReadWriteOnce volume before the new one starts. */
export const ONE_POD_AT_A_TIME = { type: 'Recreate' };

export interface SingleReplicaWorkload extends WorkloadPod {
  namespace: pulumi.Input<string>;
  /** The container port, by name, that the workload's ClusterIP Service exposes under the same name and number. */
  servicePort: string;
  strategy?: k8s.types.input.apps.v1.DeploymentStrategy;
}

/**
 * A Deployment of one replica of the workload's pod and the ClusterIP Service in front of it, both named after
 * the workload (resources `<component>-deployment` and `<component>-service`).
 */
export function singleReplicaWorkload(component: string, workload: SingleReplicaWorkload, opts: pulumi.CustomResourceOptions) {
  const { namespace, strategy, servicePort, ...pod } = workload;
  const port = pod.container.ports.find((p) => p.name === servicePort);
  if (!port) throw new Error(`${pod.name}: the Service port ${servicePort} is none of the container's ports`);
  const deployment = new k8s.apps.v1.Deployment(
    `${component}-deployment`,
    { metadata: objectMetadata(pod.name, namespace), spec: { replicas: 1, strategy, ...workloadSpec(pod) } },
    opts,
  );
  const service = clusterService(
    `${component}-service`,
    { name: pod.name, namespace, port: port.containerPort, portName: servicePort },
    opts,
  );
  return { deployment, service };
}

/**
 * Files a workload mounts, as a ConfigMap `<workload>-<part>` (resource `<component>-<part>`), and the pod
 * annotation `checksum/<part>` that rolls the pods when the files change.
 */
export function mountedConfigMap(
  component: string,
  workload: { name: string; namespace: pulumi.Input<string> },
  part: string,
  data: Record<string, string>,
  opts: pulumi.CustomResourceOptions,
) {
  const configMap = new k8s.core.v1.ConfigMap(
    `${component}-${part}`,
    { metadata: objectMetadata(workload.name, workload.namespace, `${workload.name}-${part}`), data },
    opts,
  );
  return { name: configMap.metadata.name, annotations: { [`checksum/${part}`]: checksumOf(data) } };
}

/** The workload's data volume, on a claim `<workload>-data` (resource `<component>-data`). */
export function claimedDataVolume(
  component: string,
  workload: { name: string; namespace: pulumi.Input<string> },
  storage: pulumi.Input<string>,
  opts: pulumi.CustomResourceOptions,
): k8s.types.input.core.v1.Volume {
  const claim = new k8s.core.v1.PersistentVolumeClaim(
    `${component}-data`,
    { metadata: objectMetadata(workload.name, workload.namespace, `${workload.name}-data`), spec: dataClaimSpec(storage) },
    opts,
  );
  return { name: 'data', persistentVolumeClaim: { claimName: claim.metadata.name } };
}

/** The claim spec of a workload's data volume: one node reads and writes it. */
export function dataClaimSpec(storage: pulumi.Input<string>) {
  return { accessModes: ['ReadWriteOnce'], resources: { requests: { storage } } };
}

/**
 * Checks that the objects of a stack are wired to one another as a cluster would resolve them. Each check
 * returns one message per problem, naming the object; an empty list means the check holds.
 */
import { containersOf, ingressPaths, type Container, type KubernetesObject } from '../kube/model';
import { find, keysOf, nameOf, namespaceOf, podsOfService, podTemplates, resolveContainerPort, type PodTemplate } from './model';

/* eslint-disable @typescript-eslint/no-explicit-any -- Kubernetes and Prometheus documents are walked structurally here. */

/** Every Service with a selector selects the pods of at least one workload of the stack. */
export function serviceSelectionProblems(objects: KubernetesObject[]): string[] {
  return objects
    .filter((o) => o.kind === 'Service' && (o.spec as any)?.type !== 'ExternalName')
    .filter((s) => podsOfService(objects, s).length === 0)
    .map((s) => `${nameOf(s)}: its selector ${JSON.stringify((s.spec as any)?.selector ?? {})} matches no pod template of the stack`);
}

interface Reference {
  kind: 'ConfigMap' | 'Secret' | 'PersistentVolumeClaim' | 'ServiceAccount';
  name: string;
  key?: string;
  optional?: boolean;
  via: string;
}

/** What a pod template refers to by name: env, envFrom, volumes (plain and projected), claims, service account. */
function referencesOf(pod: PodTemplate): Reference[] {
  const refs: Reference[] = [];
  for (const c of containersOf(pod.spec)) {
    for (const e of c.env ?? []) {
      const cm = e.valueFrom?.configMapKeyRef;
      const sec = e.valueFrom?.secretKeyRef;
      if (cm) refs.push({ kind: 'ConfigMap', name: cm.name, key: cm.key, optional: cm.optional, via: `container ${c.name} env ${e.name}` });
      if (sec)
        refs.push({ kind: 'Secret', name: sec.name, key: sec.key, optional: sec.optional, via: `container ${c.name} env ${e.name}` });
    }
    for (const f of c.envFrom ?? []) {
      if (f.configMapRef) refs.push({ kind: 'ConfigMap', ...f.configMapRef, via: `container ${c.name} envFrom` });
      if (f.secretRef) refs.push({ kind: 'Secret', ...f.secretRef, via: `container ${c.name} envFrom` });
    }
  }
  const itemRefs = (kind: 'ConfigMap' | 'Secret', name: string, src: any, via: string) => {
    refs.push({ kind, name, optional: src.optional, via });
    for (const item of src.items ?? []) refs.push({ kind, name, key: item.key, optional: src.optional, via });
  };
  for (const v of pod.spec.volumes ?? []) {
    const via = `volume ${v.name}`;
    if (v.configMap) itemRefs('ConfigMap', v.configMap.name, v.configMap, via);
    if (v.secret) itemRefs('Secret', v.secret.secretName, v.secret, via);
    if (v.persistentVolumeClaim) refs.push({ kind: 'PersistentVolumeClaim', name: v.persistentVolumeClaim.claimName, via });
    for (const s of v.projected?.sources ?? []) {
      if (s.configMap) itemRefs('ConfigMap', s.configMap.name, s.configMap, via);
      if (s.secret) itemRefs('Secret', s.secret.name, s.secret, via);
    }
  }
  const sa = pod.spec.serviceAccountName;
  if (sa && sa !== 'default') refs.push({ kind: 'ServiceAccount', name: sa, via: 'serviceAccountName' });
  return refs;
}

/** Every ConfigMap/Secret/claim/service account a pod template names exists in the stack, with every key it names. */
export function referenceProblems(objects: KubernetesObject[]): string[] {
  const problems: string[] = [];
  for (const pod of podTemplates(objects)) {
    for (const ref of referencesOf(pod)) {
      if (ref.optional) continue;
      const target = find(objects, ref.kind, ref.name, pod.namespace);
      if (!target) problems.push(`${pod.id} ${ref.via}: ${ref.kind} ${ref.name} is not declared by the stack`);
      else if (ref.key !== undefined && !keysOf(target).includes(ref.key))
        problems.push(`${pod.id} ${ref.via}: ${ref.kind} ${ref.name} has no key ${ref.key}`);
    }
    const volumes = new Set([
      ...(pod.spec.volumes ?? []).map((v: any) => v.name),
      ...((pod.owner.spec as any)?.volumeClaimTemplates ?? []).map((t: any) => t.metadata?.name),
    ]);
    for (const c of containersOf(pod.spec))
      for (const m of c.volumeMounts ?? [])
        if (!volumes.has(m.name)) problems.push(`${pod.id} container ${c.name}: mounts volume ${m.name}, which the pod does not declare`);
  }
  for (const b of objects.filter((o) => o.kind === 'RoleBinding')) {
    const roleRef = (b as any).roleRef;
    if (roleRef?.kind === 'Role' && !find(objects, 'Role', roleRef.name, namespaceOf(b)))
      problems.push(`${nameOf(b)}: binds Role ${roleRef.name}, which the stack does not declare`);
    for (const s of (b as any).subjects ?? [])
      if (s.kind === 'ServiceAccount' && !find(objects, 'ServiceAccount', s.name, s.namespace ?? namespaceOf(b)))
        problems.push(`${nameOf(b)}: binds ServiceAccount ${s.name}, which the stack does not declare`);
  }
  return problems;
}

const PROBES = ['startupProbe', 'livenessProbe', 'readinessProbe'] as const;

function probePort(probe: any): number | string | undefined {
  return probe?.httpGet?.port ?? probe?.tcpSocket?.port ?? probe?.grpc?.port;
}

/** Every probe, Service targetPort and Ingress backend port names (or numbers) a port that is really declared. */
export function portProblems(objects: KubernetesObject[]): string[] {
  const problems: string[] = [];
  for (const pod of podTemplates(objects))
    for (const c of containersOf(pod.spec))
      for (const p of PROBES) {
        const port = probePort(c[p]);
        if (port !== undefined && resolveContainerPort(pod, port, c) === undefined)
          problems.push(`${pod.id} container ${c.name} ${p}: port ${port} is not a declared port of the container`);
      }
  for (const s of objects.filter((o) => o.kind === 'Service'))
    for (const sp of (s.spec as any)?.ports ?? [])
      for (const pod of podsOfService(objects, s))
        if (resolveContainerPort(pod, sp.targetPort ?? sp.port) === undefined)
          problems.push(
            `${nameOf(s)} port ${sp.name ?? sp.port}: targetPort ${sp.targetPort ?? sp.port} is not a declared port of ${pod.id}`,
          );
  for (const ing of objects.filter((o) => o.kind === 'Ingress'))
    for (const { backend } of ingressPaths(ing)) {
      const svc = find(objects, 'Service', backend?.service?.name, namespaceOf(ing));
      const port = backend?.service?.port;
      if (!svc) problems.push(`${nameOf(ing)}: backend Service ${backend?.service?.name} is not declared by the stack`);
      else if (!((svc.spec as any)?.ports ?? []).some((p: any) => (port?.name ? p.name === port.name : p.port === port?.number)))
        problems.push(`${nameOf(ing)}: backend port ${port?.name ?? port?.number} is not a port of Service ${svc.metadata.name}`);
    }
  return problems;
}

/** The value of every Secret key of the stack (data is base64, stringData plain). */
function secretValues(objects: KubernetesObject[]): { where: string; value: string }[] {
  return objects
    .filter((o) => o.kind === 'Secret')
    .flatMap((s) => [
      ...Object.entries((s.stringData as Record<string, string>) ?? {}).map(([k, v]) => ({
        where: `${nameOf(s)} key ${k}`,
        value: String(v),
      })),
      ...Object.entries((s.data as Record<string, string>) ?? {}).map(([k, v]) => ({
        where: `${nameOf(s)} key ${k}`,
        value: Buffer.from(String(v), 'base64').toString(),
      })),
    ]);
}

/** Environment variables of a container whose value comes from a Secret (env secretKeyRef, envFrom secretRef). */
function secretEnvNames(objects: KubernetesObject[], pod: PodTemplate, c: Container): Set<string> {
  const names = new Set<string>();
  for (const e of c.env ?? []) if (e.valueFrom?.secretKeyRef) names.add(e.name);
  for (const f of c.envFrom ?? []) {
    if (!f.secretRef) continue;
    const secret = find(objects, 'Secret', f.secretRef.name, pod.namespace);
    for (const k of secret ? keysOf(secret) : []) names.add(`${f.prefix ?? ''}${k}`);
  }
  return names;
}

/**
 * No secret reaches a command line (visible in `ps`, /proc/<pid>/cmdline and the pod spec): neither a Secret's
 * value written into command/args, nor `$(VAR)` of a variable that a Secret fills, which the kubelet expands.
 */
export function commandLineSecretProblems(objects: KubernetesObject[]): string[] {
  const secrets = secretValues(objects).filter((s) => s.value.length >= 8);
  const problems: string[] = [];
  for (const pod of podTemplates(objects))
    for (const c of containersOf(pod.spec)) {
      const argv: string[] = [...(c.command ?? []), ...(c.args ?? [])].map(String);
      const fromSecret = secretEnvNames(objects, pod, c);
      for (const arg of argv) {
        for (const [, name] of arg.matchAll(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g))
          if (fromSecret.has(name!)) problems.push(`${pod.id} container ${c.name}: $(${name}) puts a Secret's value on the command line`);
        for (const s of secrets)
          if (arg.includes(s.value)) problems.push(`${pod.id} container ${c.name}: the command line contains the value of ${s.where}`);
      }
    }
  return problems;
}

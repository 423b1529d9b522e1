/**
 * Pod Security Admission as the API server applies it: a namespace labelled
 * `pod-security.kubernetes.io/enforce: restricted` (or `baseline`) refuses every pod that breaks the level,
 * so a workload that does would never start. Checked for each pod template against its namespace's label.
 */
import { containersOf, effectiveSecurity, type KubernetesObject } from '../kube/model';
import { podTemplates, type PodTemplate } from './model';

const RESTRICTED_VOLUMES = ['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret'];
const BASELINE_CAPABILITIES = new Set([
  'AUDIT_WRITE',
  'CHOWN',
  'DAC_OVERRIDE',
  'FOWNER',
  'FSETID',
  'KILL',
  'MKNOD',
  'NET_BIND_SERVICE',
  'SETFCAP',
  'SETGID',
  'SETPCAP',
  'SETUID',
  'SYS_CHROOT',
]);

function baselineProblems(pod: PodTemplate): string[] {
  const spec = pod.spec;
  const problems: string[] = [];
  for (const host of ['hostNetwork', 'hostPID', 'hostIPC']) if (spec[host]) problems.push(`${host} is set`);
  for (const v of spec.volumes ?? []) if (v.hostPath) problems.push(`volume ${v.name} is a hostPath`);
  for (const c of containersOf(pod.spec)) {
    if (c.securityContext?.privileged) problems.push(`container ${c.name} is privileged`);
    for (const p of c.ports ?? []) if (p.hostPort) problems.push(`container ${c.name} uses hostPort ${p.hostPort}`);
    for (const cap of c.securityContext?.capabilities?.add ?? [])
      if (!BASELINE_CAPABILITIES.has(cap)) problems.push(`container ${c.name} adds capability ${cap}`);
  }
  return problems;
}

function restrictedProblems(pod: PodTemplate): string[] {
  const spec = pod.spec;
  const problems = baselineProblems(pod);
  for (const v of spec.volumes ?? [])
    if (!RESTRICTED_VOLUMES.some((t) => t in v)) problems.push(`volume ${v.name} is of a type "restricted" does not allow`);
  for (const c of containersOf(pod.spec)) {
    const sc = c.securityContext ?? {};
    const effective = (field: string) => effectiveSecurity(c, spec, field);
    if (sc.allowPrivilegeEscalation !== false) problems.push(`container ${c.name} does not set allowPrivilegeEscalation: false`);
    if (effective('runAsNonRoot') !== true) problems.push(`container ${c.name} does not run as non-root (runAsNonRoot)`);
    if (effective('runAsUser') === 0) problems.push(`container ${c.name} runs as uid 0`);
    if (!['RuntimeDefault', 'Localhost'].includes(effective('seccompProfile')?.type))
      problems.push(`container ${c.name} has no RuntimeDefault/Localhost seccomp profile`);
    if (!(sc.capabilities?.drop ?? []).includes('ALL')) problems.push(`container ${c.name} does not drop ALL capabilities`);
    for (const cap of sc.capabilities?.add ?? [])
      if (cap !== 'NET_BIND_SERVICE')
        problems.push(`container ${c.name} adds capability ${cap} ("restricted" allows only NET_BIND_SERVICE)`);
  }
  return problems;
}

/** Every pod template passes the Pod Security level its namespace enforces. */
export function podSecurityProblems(objects: KubernetesObject[]): string[] {
  const levels = new Map(
    objects
      .filter((o) => o.kind === 'Namespace')
      .map((ns) => [ns.metadata.name, ns.metadata.labels?.['pod-security.kubernetes.io/enforce']]),
  );
  return podTemplates(objects).flatMap((pod) => {
    const level = levels.get(pod.namespace);
    const problems = level === 'restricted' ? restrictedProblems(pod) : level === 'baseline' ? baselineProblems(pod) : [];
    return [...new Set(problems)].map((p) => `${pod.id}: refused by Pod Security "${level}" of namespace ${pod.namespace}: ${p}`);
  });
}

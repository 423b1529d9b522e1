/**
 * The cluster-semantics checks over the rendered objects of every stack, and each check broken on purpose
 * (a rendered object mutated the way a real mistake would) to show that it can fail.
 */
import { CHECKS, clusterSemanticsProblems, stackFacts as factsOf, type CheckName } from '../semantics';
import { withCnpgManaged } from '../semantics/cnpg';
import { INTENDED_FLOWS, allowedFlows, flowKey, networkProblems } from '../semantics/network';
import { pathCovers } from '../semantics/exposure';
import { clusterFor } from '../semantics/scheduling';
import type { KubernetesObject } from '../kube/model';
import { STACKS, stackFileConfig, type OfflineRun, type RunOptions } from '../offline';
import { violations } from '../policies/rules';
import { decodeStackFile } from '../stack-schema';
import { runIsolated as run } from './offline-run';
import { at, packReports } from './policy-pack';

/** Operator mode, as in operator-mode.test.ts: staging monitored by a cluster's kube-prometheus-stack. */
const OPERATOR_MONITORING = { mode: 'operator', namespace: 'monitoring', matchLabels: { release: 'kube-prometheus-stack' } };
const OPERATOR: RunOptions = {
  set: { 'event-stack:monitoring': JSON.stringify(OPERATOR_MONITORING) },
  remove: ['event-stack:prometheus', 'event-stack:alertmanager', 'event-stack:grafana'],
};

process.setMaxListeners(64);
const runs = new Map<string, OfflineRun>();
beforeAll(async () => {
  for (const stack of STACKS) runs.set(stack, await run(stack));
  runs.set('operator', await run('staging', OPERATOR));
}, 120_000);

type Obj = KubernetesObject & { spec: any; data?: any; stringData?: any };

const facts = (stack: string) =>
  stack === 'operator'
    ? factsOf('staging', decodeStackFile({ ...stackFileConfig('staging'), ...OPERATOR.set }, 'Pulumi.staging.yaml'))
    : factsOf(stack);

type Edit = (get: (kind: string, name: string) => Obj, objects: Obj[]) => void;

/** A deep copy of a stack's objects, edited the way a real mistake would. */
function edited(stack: string, edit: Edit): Obj[] {
  const objects = structuredClone(runs.get(stack)!.kubernetesObjects) as Obj[];
  const get = (kind: string, name: string) => {
    const found = objects.find((o) => o.kind === kind && (o.metadata.name === name || o.metadata.name.startsWith(`${name}-`)));
    if (!found) throw new Error(`${stack} has no ${kind} ${name}`);
    return found;
  };
  edit(get, objects);
  return objects;
}

/** The named check's problems on a stack's objects, edited. */
function broken(stack: string, check: CheckName, edit: Edit): string[] {
  // As in clusterSemanticsProblems: the pods and Services CloudNativePG makes of the (edited) Cluster.
  return CHECKS[check](withCnpgManaged(edited(stack, edit)), facts(stack));
}
const podOf = (o: Obj) => (o.kind === 'CronJob' ? o.spec.jobTemplate.spec.template : o.spec.template);
const container = (o: Obj, i = 0) => podOf(o).spec.containers[i];

describe.each(STACKS)('the %s stack', (stack) => {
  test('when its objects are rendered, then every cluster-semantics check holds', () => {
    expect(clusterSemanticsProblems(runs.get(stack)!.kubernetesObjects, factsOf(stack))).toEqual([]);
  });
});

describe("operator mode (staging monitored by the cluster's Prometheus Operator)", () => {
  test('when its objects are rendered, then every cluster-semantics check holds, the monitors counted as scrape targets', () => {
    expect(facts('operator').operatorNamespace).toBe('monitoring');
    expect(clusterSemanticsProblems(runs.get('operator')!.kubernetesObjects, facts('operator'))).toEqual([]);
    const flows = allowedFlows(runs.get('operator')!.kubernetesObjects, facts('operator')).map(flowKey);
    expect(flows).toContain("the operator's Prometheus → Rollout/event-service:8080");
  });

  test('when the PodMonitor keeps only Ready pods, then "discovery keeps unready pods" fails', () => {
    const problems = broken('operator', 'discovery keeps unready pods', (get) =>
      get('PodMonitor', 'event-service').spec.podMetricsEndpoints[0].relabelings.unshift({
        action: 'keep',
        sourceLabels: ['__meta_kubernetes_pod_ready'],
        regex: 'true',
      }),
    );
    expect(problems).toEqual(['PodMonitor/event-service: pods of Rollout/event-service stop being targets when they are not Ready']);
  });

  test("when the policies admit Prometheus from another namespace than the operator's, then its scrapes are reported blocked", () => {
    const problems = broken('operator', 'network flows are exactly the intended ones', (_get, objects) => {
      for (const p of objects.filter((o) => o.kind === 'NetworkPolicy'))
        for (const rule of p.spec.ingress ?? [])
          for (const peer of rule.from ?? [])
            if (peer.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] === 'monitoring')
              peer.namespaceSelector.matchLabels['kubernetes.io/metadata.name'] = 'observability';
    });
    expect(problems).toContain("blocked but intended (PodMonitor/event-service): the operator's Prometheus → Rollout/event-service:8080");
  });
});

describe('when a Service selects no pod, then "services select pods" fails', () => {
  test('a selector label with a typo', () => {
    const problems = broken(
      'dev',
      'services select pods',
      (get) => (get('Service', 'redis').spec.selector = { 'app.kubernetes.io/name': 'rediss' }),
    );
    expect(problems).toEqual([expect.stringMatching(/^Service\/redis: its selector .* matches no pod template/)]);
  });
});

describe('when a reference does not resolve, then "references resolve" fails', () => {
  test.each([
    [
      'an envFrom Secret that does not exist',
      (get: any) => (container(get('Deployment', 'event-service')).envFrom[1].secretRef.name = 'app-secret'),
      /Secret app-secret is not declared/,
    ],
    [
      'an env key that the Secret lacks',
      (get: any) =>
        (container(get('Deployment', 'grafana')).env = [
          ...container(get('Deployment', 'grafana')).env,
          { name: 'X', valueFrom: { secretKeyRef: { name: 'grafana-admin', key: 'GF_NOPE' } } },
        ]),
      /Secret grafana-admin has no key GF_NOPE/,
    ],
    [
      'a ConfigMap volume item key that does not exist',
      (get: any) =>
        (podOf(get('Deployment', 'grafana')).spec.volumes.find((v: any) => v.name === 'provisioning').configMap.items[0].key = 'nope.yml'),
      /ConfigMap grafana-provisioning has no key nope\.yml/,
    ],
    [
      'a projected ConfigMap that does not exist',
      (get: any) =>
        (podOf(get('Deployment', 'pushgateway')).spec.volumes = [
          { name: 'p', projected: { sources: [{ configMap: { name: 'ghost' } }] } },
        ]),
      /volume p: ConfigMap ghost is not declared/,
    ],
    [
      'a mount of a volume the pod lacks',
      (get: any) => container(get('StatefulSet', 'prometheus')).volumeMounts.push({ name: 'cache', mountPath: '/cache' }),
      /mounts volume cache/,
    ],
    [
      'a service account that does not exist',
      (get: any) => (podOf(get('Deployment', 'grafana')).spec.serviceAccountName = 'grafana'),
      /ServiceAccount grafana is not declared/,
    ],
  ])('%s', (_what, edit, message) => {
    expect(broken('dev', 'references resolve', edit).join('\n')).toMatch(message);
  });

  test('an optional reference may be absent', () => {
    const problems = broken('dev', 'references resolve', (get) =>
      container(get('Deployment', 'event-service')).envFrom.push({ secretRef: { name: 'extra', optional: true } }),
    );
    expect(problems).toEqual([]);
  });
});

describe('when a port is not declared, then "ports are declared" fails', () => {
  test.each([
    [
      'a probe naming a port the container lacks',
      (get: any) => (container(get('Deployment', 'event-service')).readinessProbe.httpGet.port = 'metrics'),
      /readinessProbe: port metrics/,
    ],
    [
      'a probe numbering a port the container lacks',
      (get: any) => (container(get('Deployment', 'redis')).livenessProbe.tcpSocket.port = 6380),
      /livenessProbe: port 6380/,
    ],
    [
      'a Service targetPort the pods lack',
      (get: any) => (get('Service', 'pushgateway').spec.ports[0].targetPort = 9092),
      /Service\/pushgateway port http: targetPort 9092/,
    ],
    [
      'an Ingress backend port the Service lacks',
      (get: any) => (get('Ingress', 'event-service').spec.rules[0].http.paths[0].backend.service.port = { name: 'https' }),
      /backend port https/,
    ],
  ])('%s', (_what, edit, message) => {
    expect(broken('dev', 'ports are declared', edit).join('\n')).toMatch(message);
  });
});

const NET: CheckName = 'network flows are exactly the intended ones';
const removePolicy = (objects: Obj[], name: string) =>
  objects.splice(
    objects.findIndex((o) => o.kind === 'NetworkPolicy' && o.metadata.name === name),
    1,
  );

describe('when the ingress rules of the NetworkPolicies differ from the intended flows, then the graph check fails', () => {
  test('without the default deny, every pod is open to everything', () => {
    const problems = broken('dev', NET, (_get, objects) => removePolicy(objects, 'default-deny-ingress'));
    // Grafana (not exposed in dev) has no policy of its own: only the default deny closed it.
    expect(problems).toContain('allowed but not intended: outside the cluster → Deployment/grafana:3000');
    expect(problems).toContain('allowed but not intended: Deployment/redis → Deployment/grafana:3000');
  });

  test('without the policy for Redis, the app cannot reach it', () => {
    const problems = broken('dev', NET, (_get, objects) => removePolicy(objects, 'redis-from-app-and-exporter'));
    expect(problems).toEqual([
      'blocked but intended (app → redis): Deployment/event-service → Deployment/redis:6379',
      'blocked but intended (redis-exporter → redis): Deployment/redis-exporter → Deployment/redis:6379',
    ]);
  });

  test('an empty namespaceSelector opens a pod to every namespace', () => {
    const problems = broken('dev', NET, (get) =>
      get('NetworkPolicy', 'alertmanager-from-prometheus').spec.ingress[0].from.push({ namespaceSelector: {} }),
    );
    expect(problems).toContain('allowed but not intended: a pod of another namespace → StatefulSet/alertmanager:9093');
    expect(problems).toContain('allowed but not intended: ingress-controller → StatefulSet/alertmanager:9093');
  });

  test('an ipBlock peer opens a pod to the outside', () => {
    const problems = broken('dev', NET, (get) =>
      get('NetworkPolicy', 'redis-from-app-and-exporter').spec.ingress[0].from.push({ ipBlock: { cidr: '0.0.0.0/0' } }),
    );
    expect(problems).toEqual(['allowed but not intended: outside the cluster → Deployment/redis:6379']);
  });

  test('a policy on the wrong port blocks the flow', () => {
    const problems = broken(
      'dev',
      NET,
      (get) => (get('NetworkPolicy', 'redis-from-app-and-exporter').spec.ingress[0].ports = [{ protocol: 'TCP', port: 6380 }]),
    );
    expect(problems).toEqual([
      'blocked but intended (app → redis): Deployment/event-service → Deployment/redis:6379',
      'blocked but intended (redis-exporter → redis): Deployment/redis-exporter → Deployment/redis:6379',
    ]);
  });

  test('a named port resolves against the destination pod, as Kubernetes does', () => {
    const problems = broken(
      'dev',
      NET,
      (get) => (get('NetworkPolicy', 'redis-from-app-and-exporter').spec.ingress[0].ports = [{ protocol: 'TCP', port: 'redis' }]),
    );
    expect(problems).toEqual([]);
  });
});

describe('when the egress rules of the NetworkPolicies differ from the intended flows, then the graph check fails', () => {
  test('without the egress rule for DNS and the namespace, every pod loses name resolution and its in-namespace flows', () => {
    const problems = broken('dev', NET, (_get, objects) => removePolicy(objects, 'egress-to-dns-and-namespace'));
    expect(problems).toEqual(
      expect.arrayContaining([
        'blocked but intended (name resolution): Deployment/event-service → kube-dns:53/UDP',
        'blocked but intended (app → postgres): Deployment/event-service → Pod/postgres-primary:5432',
        'blocked but intended (app → redis): Deployment/event-service → Deployment/redis:6379',
      ]),
    );
  });

  test('without egress policies (as before issue 25), every pod reaches the internet, other namespaces and the metadata address', () => {
    const problems = broken('dev', NET, (_get, objects) => {
      for (let i = objects.length - 1; i >= 0; i--)
        if (objects[i]!.kind === 'NetworkPolicy' && objects[i]!.spec.policyTypes.includes('Egress')) objects.splice(i, 1);
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        'allowed but not intended: Deployment/grafana → the internet:443',
        'allowed but not intended: Deployment/event-service → a pod of another namespace:8080',
        'reaches the cloud metadata address: Deployment/event-service → the cloud metadata address:80',
      ]),
    );
  });

  test('an ipBlock of the whole internet without the metadata exception, on any port, reaches the metadata address', () => {
    const problems = broken('dev', NET, (get) => {
      const rule = get('NetworkPolicy', 'alertmanager-to-receivers').spec.egress[0];
      rule.to = [{ ipBlock: { cidr: '0.0.0.0/0' } }];
      delete rule.ports;
    });
    expect(problems).toContain('reaches the cloud metadata address: StatefulSet/alertmanager → the cloud metadata address:80');
  });
});

describe("the flows of cert-manager's HTTP-01 solver", () => {
  test('without the policy for the HTTP-01 solver, cert-manager never gets its certificate', () => {
    const problems = broken('staging', NET, (_get, objects) => removePolicy(objects, 'acme-solver-from-ingress'));
    expect(problems).toEqual([
      'blocked but intended (ingress-controller → acme-solver): ingress-controller → Pod/cm-acme-http-solver:8089',
    ]);
  });

  test('the HTTP-01 flow is in the intended table: without it, the rendered policy is reported as unintended', () => {
    const table = INTENDED_FLOWS.filter((f) => f.to !== 'acme-solver');
    expect(networkProblems(runs.get('staging')!.kubernetesObjects, factsOf('staging'), table)).toEqual([
      'allowed but not intended: ingress-controller → Pod/cm-acme-http-solver:8089',
    ]);
  });

  test('dev has no HTTP-01 solver to reach: it issues no certificate', () => {
    expect(
      allowedFlows(runs.get('dev')!.kubernetesObjects, factsOf('dev'))
        .map(flowKey)
        .filter((f) => f.includes('acme')),
    ).toEqual([]);
  });
});

describe('when the NetworkPolicies of the CloudNativePG instances differ from the intended flows, then the graph check fails', () => {
  test('without the egress policy of the database instances, CloudNativePG can reach neither the API server nor the object store', () => {
    const problems = broken('dev', NET, (_get, objects) => removePolicy(objects, 'postgres-to-kubernetes-api-and-object-store'));
    expect(problems).toEqual(
      expect.arrayContaining([
        'blocked but intended (postgres → the Kubernetes API): Pod/postgres-primary → the Kubernetes API (172.18.0.1):6443',
        'blocked but intended (postgres → the backup object store): Pod/postgres-primary → the backup object store (0.0.0.1):443',
      ]),
    );
    // dev's object store is any public address on 443, so every such destination of the model is reported too.
    expect(problems.every((p) => p.startsWith('blocked but intended (postgres → '))).toBe(true);
  });

  test('when the instances of a CloudNativePG cluster lose their own peer, then replication between primary and replicas is reported blocked', () => {
    const problems = broken('staging', NET, (_get, objects) => {
      const policy = objects.find(
        (o) => o.kind === 'NetworkPolicy' && o.spec.podSelector.matchLabels?.['cnpg.io/podRole'] === 'instance' && o.spec.ingress,
      )!;
      for (const rule of policy.spec.ingress)
        rule.from = rule.from.filter((peer: any) => peer.podSelector?.matchLabels?.['cnpg.io/podRole'] !== 'instance');
    });
    expect(problems.sort()).toEqual([
      'blocked but intended (postgres → postgres): Pod/postgres-primary → Pod/postgres-replica:5432',
      'blocked but intended (postgres → postgres): Pod/postgres-replica → Pod/postgres-primary:5432',
    ]);
  });

  test('when the CloudNativePG operator runs in another namespace than the policy admits, then its flows to the instances are reported blocked', () => {
    const problems = broken('dev', NET, (_get, objects) => {
      const policy = objects.find(
        (o) => o.kind === 'NetworkPolicy' && o.spec.podSelector.matchLabels?.['cnpg.io/podRole'] === 'instance' && o.spec.ingress,
      )!;
      for (const rule of policy.spec.ingress)
        for (const peer of rule.from)
          if (peer.namespaceSelector) peer.namespaceSelector.matchLabels['kubernetes.io/metadata.name'] = 'elsewhere-cnpg';
    });
    expect(problems.sort()).toEqual([
      'blocked but intended (cnpg-operator → postgres): cnpg-operator → Pod/postgres-primary:5432',
      'blocked but intended (cnpg-operator → postgres): cnpg-operator → Pod/postgres-primary:8000',
    ]);
  });
});

describe('the network graph of the rendered stacks', () => {
  test('an intended flow whose end does not exist (no in-cluster PostgreSQL in prod) is not expected', () => {
    const prodPods = runs.get('prod')!.kubernetesObjects.filter((o) => o.metadata.name === 'postgres');
    expect(prodPods).toEqual([]);
    expect(INTENDED_FLOWS.some((f) => f.to === 'postgres')).toBe(true);
    expect(CHECKS[NET](runs.get('prod')!.kubernetesObjects, factsOf('prod'))).toEqual([]);
  });

  test('the graph of dev allows the ingress controller into the app and nothing of the outside anywhere', () => {
    const flows = allowedFlows(runs.get('dev')!.kubernetesObjects, factsOf('dev')).map(flowKey);
    expect(flows).toContain('ingress-controller → Deployment/event-service:8080');
    expect(flows.filter((f) => f.startsWith('outside') || f.startsWith('a pod of another'))).toEqual([]);
  });
});

/** The reachability matrix of egress: each row one flow, allowed or denied by the rendered policies. */
describe('egress reachability', () => {
  // APP: the service's workload in that stack, a Rollout where it releases by canary, else the Deployment (a
  // denied row naming a workload the stack does not declare would pass without checking anything).
  const reaches = (stack: string, flow: string) => {
    // The pods and Services CloudNativePG makes from the Cluster are part of what the cluster runs.
    const objects = withCnpgManaged(runs.get(stack)!.kubernetesObjects);
    const app = objects.find((o) => ['Deployment', 'Rollout'].includes(o.kind) && o.metadata.name === 'event-service')!;
    return allowedFlows(objects, facts(stack))
      .map(flowKey)
      .includes(flow.replace('APP', `${app.kind}/event-service`));
  };
  test.each([
    ['dev', 'APP → kube-dns:53/UDP'],
    ['dev', 'APP → kube-dns:53'],
    ['dev', 'APP → Pod/postgres-primary:5432'],
    ['dev', 'APP → Deployment/redis:6379'],
    ['dev', 'CronJob/event-service-maintenance → Deployment/pushgateway:9091'],
    ['dev', 'StatefulSet/prometheus → the Kubernetes API (172.18.0.1):6443'],
    ['dev', 'StatefulSet/alertmanager → the internet:443'],
    ['prod', 'APP → the managed database (10.0.64.1):5432'],
    ['prod', 'Deployment/postgres-exporter → the managed database (10.0.64.1):5432'],
    ['prod', 'CronJob/event-service-maintenance → the managed database (10.0.64.1):5432'],
    ['staging', 'ingress-controller → Pod/cm-acme-http-solver:8089'],
    ['operator', "the operator's Prometheus → APP:8080"],
    ['dev', 'Pod/postgres-primary → the Kubernetes API (172.18.0.1):6443'],
    ['staging', 'Pod/postgres-replica → the backup object store (0.0.0.1):443'],
  ])('in %s, when the policies are rendered, then %s is allowed', (stack, flow) => {
    expect(reaches(stack, flow)).toBe(true);
  });

  test.each([
    ...STACKS.map((stack) => [stack, 'APP → the cloud metadata address:80']),
    ['dev', 'StatefulSet/alertmanager → the cloud metadata address:80'],
    ['dev', 'StatefulSet/prometheus → the cloud metadata address:80'],
    ['dev', 'APP → the internet:443'],
    ['dev', 'Deployment/grafana → the internet:443'],
    ['dev', 'StatefulSet/alertmanager → the internet:80'],
    ['dev', 'APP → a pod of another namespace:8080'],
    ['dev', 'APP → metrics-server in kube-system:10250'],
    ['dev', 'APP → the Kubernetes API (172.18.0.1):6443'],
    ['dev', 'Deployment/grafana → the Kubernetes API (172.18.0.1):6443'],
    ['dev', 'APP → an alert receiver (0.0.0.1):443'],
    ['prod', 'Deployment/grafana → the managed database (10.0.64.1):5432'],
    ['prod', 'Deployment/redis → the managed database (10.0.64.1):5432'],
    ['prod', 'APP → the internet:5432'],
    ['operator', 'APP → the Kubernetes API (10.0.0.1):443'],
  ])('in %s, when the policies are rendered, then %s is denied', (stack, flow) => {
    expect(reaches(stack, flow)).toBe(false);
  });
});

const DISC: CheckName = 'discovery keeps unready pods';
const KUBELET_ROLE = 'event-stack-dev-prometheus-kubelet-metrics';
/** Edits the rendered prometheus.yml of the stack. */
const promConfig = (get: any, edit: (c: any) => void) => {
  const cm = get('ConfigMap', 'prometheus-config');
  const yaml = require('yaml') as typeof import('yaml');
  const config = yaml.parse(cm.data['prometheus.yml']);
  edit(config);
  cm.data['prometheus.yml'] = yaml.stringify(config);
};
const appJob = (c: any) => c.scrape_configs.find((j: any) => j.job_name === 'event-service');

describe('when the scrape configuration would lose unready pods, then "discovery keeps unready pods" fails', () => {
  test('DNS discovery through a headless Service (the defect of issue #13 item 1)', () => {
    const problems = broken('dev', DISC, (get, objects) => {
      objects.push({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'event-service-pods', namespace: 'event-stack-dev' },
        spec: {
          clusterIP: 'None',
          selector: { 'app.kubernetes.io/name': 'event-service', 'app.kubernetes.io/component': 'server' },
          ports: [{ port: 8080 }],
        },
      });
      promConfig(get, (c) => {
        const job = appJob(c);
        delete job.kubernetes_sd_configs;
        delete job.relabel_configs;
        job.dns_sd_configs = [{ names: ['event-service-pods.event-stack-dev.svc.cluster.local'], type: 'A', port: 8080 }];
      });
    });
    expect(problems.join('\n')).toMatch(/headless Service that lists only Ready pods/);
  });

  test('a relabelling that keeps only Ready pods', () => {
    const problems = broken('dev', DISC, (get) =>
      promConfig(get, (c) =>
        appJob(c).relabel_configs.unshift({ source_labels: ['__meta_kubernetes_pod_ready'], regex: 'true', action: 'keep' }),
      ),
    );
    expect(problems).toEqual(['job event-service: pods of Deployment/event-service stop being targets when they are not Ready']);
  });

  test('an instance label that is the pod address, not the pod name', () => {
    const problems = broken('dev', DISC, (get) =>
      promConfig(get, (c) => (appJob(c).relabel_configs = appJob(c).relabel_configs.filter((r: any) => r.target_label !== 'instance'))),
    );
    expect(problems.join('\n')).toMatch(/named instance="event-service-0\.pod:8080", not its pod name event-service-0/);
  });

  test('no port selection when the app declares a second port', () => {
    const problems = broken('dev', DISC, (get) => {
      container(get('Deployment', 'event-service')).ports.push({ name: 'inspector', containerPort: 9229 });
      promConfig(get, (c) => (appJob(c).relabel_configs = appJob(c).relabel_configs.filter((r: any) => r.action !== 'keep')));
    });
    expect(problems).toContain('job event-service: pods of Deployment/event-service are scraped on 2 ports (8080, 9229)');
  });

  test('discovery across all namespaces', () => {
    const problems = broken('dev', DISC, (get) => promConfig(get, (c) => delete appJob(c).kubernetes_sd_configs[0].namespaces));
    expect(problems).toContain('job event-service: kubernetes_sd role pod is not limited to the namespace event-stack-dev');
  });
});

describe('when Prometheus\' permissions or scope are wrong, then "discovery keeps unready pods" fails', () => {
  test.each([
    [
      'a Role that cannot watch pods',
      (get: any) => (get('Role', 'prometheus-discovery').rules[0].verbs = ['get', 'list']),
      /may not watch pods/,
    ],
    [
      'a Role that may also read Secrets',
      (get: any) => get('Role', 'prometheus-discovery').rules.push({ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }),
      /more than discovery needs \(secrets\)/,
    ],
    [
      'a Role that may delete pods',
      (get: any) => get('Role', 'prometheus-discovery').rules[0].verbs.push('delete'),
      /more than discovery needs \(delete\)/,
    ],
    [
      'no token mounted in the Prometheus pod',
      (get: any) => (podOf(get('StatefulSet', 'prometheus')).spec.automountServiceAccountToken = false),
      /does not mount its service account token/,
    ],
    [
      'a binding to another service account',
      (get: any) => (get('RoleBinding', 'prometheus-discovery').subjects[0].name = 'default'),
      /may not list pods/,
    ],
    [
      'a ClusterRole that also proxies to the kubelets (exec, logs)',
      (get: any) => get('ClusterRole', KUBELET_ROLE).rules.push({ apiGroups: [''], resources: ['nodes/proxy'], verbs: ['get'] }),
      /ClusterRoleBinding event-stack-dev-prometheus-kubelet-metrics beyond the kubelets' metrics/,
    ],
    [
      'a ClusterRole that lets kube-state-metrics change the CRDs it only needs to list',
      (get: any) => get('ClusterRole', 'event-stack-dev-kube-state-metrics-crds').rules[0].verbs.push('update'),
      /ClusterRoleBinding event-stack-dev-kube-state-metrics-crds beyond the kubelets' metrics and listing CRDs/,
    ],
    [
      'a ClusterRole that lets kube-state-metrics read every cluster’s CloudNativePG Clusters',
      (get: any) =>
        get('ClusterRole', 'event-stack-dev-kube-state-metrics-crds').rules.push({
          apiGroups: ['postgresql.cnpg.io'],
          resources: ['clusters'],
          verbs: ['list', 'watch'],
        }),
      /ClusterRoleBinding event-stack-dev-kube-state-metrics-crds beyond the kubelets' metrics and listing CRDs/,
    ],
    [
      'a ClusterRole that may not read the kubelets’ metrics',
      (get: any) => (get('ClusterRole', KUBELET_ROLE).rules = get('ClusterRole', KUBELET_ROLE).rules.slice(0, 1)),
      /job kubelet: service account prometheus-discovery may not get nodes\/metrics/,
    ],
    [
      'a kubelet scrape that keeps every namespace’s containers',
      (get: any) =>
        promConfig(get, (c) => {
          const job = c.scrape_configs.find((j: any) => j.job_name === 'kubelet-cadvisor');
          job.metric_relabel_configs = job.metric_relabel_configs.filter((r: any) => r.source_labels[0] !== 'namespace');
        }),
      /job kubelet-cadvisor: the kubelet scrape keeps series of other namespaces than event-stack-dev/,
    ],
  ])('%s', (_what, edit, message) => {
    expect(broken('dev', DISC, edit).join('\n')).toMatch(message);
  });
});

const EXP: CheckName = 'exposure and TLS';
const appPaths = (get: any) => get('Ingress', 'event-service').spec.rules[0].http.paths;

describe('when an Ingress makes internal paths public or asks for a certificate wrongly, then "exposure and TLS" fails', () => {
  test('routing / to the app (the defect of issue #13 item 3) makes health and metrics public', () => {
    const problems = broken('prod', EXP, (get) => (appPaths(get)[0].path = '/'));
    expect(problems).toEqual([
      'Ingress/event-service: path / makes /healthz of Rollout/event-service public',
      'Ingress/event-service: path / makes /readyz of Rollout/event-service public',
      'Ingress/event-service: path / makes /metrics of Rollout/event-service public',
    ]);
  });

  test('a cert-manager annotation without spec.tls', () => {
    const problems = broken('dev', EXP, (get) => {
      const ing = get('Ingress', 'event-service');
      ing.metadata.annotations = { 'cert-manager.io/cluster-issuer': 'letsencrypt' };
      delete ing.spec.tls;
    });
    expect(problems).toEqual([
      'Ingress/event-service: asks cert-manager for a certificate but spec.tls does not name a Secret for every host',
    ]);
  });

  test('no route to the API at all', () => {
    const problems = broken('dev', EXP, (get) => (appPaths(get)[0].path = '/v1/'));
    expect(problems).toContain('no Ingress routes /api/v1/events to the app');
  });

  test.each([
    ['/', 'Prefix', '/metrics', true],
    ['/api/', 'Prefix', '/api/v1/events', true],
    ['/api', 'Prefix', '/apiary', false],
    ['/api/', 'Prefix', '/metrics', false],
    ['/metrics', 'Exact', '/metrics', true],
    ['/metrics', 'Exact', '/metrics/x', false],
  ])('path %s (%s) covers %s: %s', (path, type, request, covers) => {
    expect(pathCovers(path, type, request)).toBe(covers);
  });
});

/**
 * What may be public and TLS are policy rules (infra/policies), not cluster semantics: on the same rendered
 * objects, `make manifests` (violations of the stage, release steps aside) and the policy pack refuse them, once.
 */
describe('when an Ingress routes more than the API or serves without TLS, then the policy rules refuse it', () => {
  const refusedByManifests = (stack: string, objects: Obj[]) => violations(objects, stack, { releaseSteps: false });

  test('routing / to the app', async () => {
    const objects = edited('prod', (get) => (appPaths(get)[0].path = '/'));
    const refusal = 'ingress-routes-only-the-api: Ingress event-service: path / routes more than /api/ to the event service';
    expect(refusedByManifests('prod', objects)).toEqual([refusal]);
    expect(at(await packReports(objects, 'prod'), 'mandatory').filter((r) => r.startsWith('ingress-'))).toEqual([refusal]);
  });

  // Semantics keeps only what the cluster does with it: cert-manager issues nothing for a host spec.tls lacks.
  const certManagerIgnoresIt = `${EXP}: Ingress/event-service: asks cert-manager for a certificate but spec.tls does not name a Secret for every host`;
  test.each([
    ['prod without TLS', 'prod', (ing: Obj) => (delete ing.spec.tls, delete ing.metadata.annotations), []],
    [
      'staging with TLS for another host only',
      'staging',
      (ing: Obj) => (ing.spec.tls[0].hosts = ['other.example.com']),
      [certManagerIgnoresIt],
    ],
  ])('%s', async (_what, stack, edit, semantics) => {
    const objects = edited(stack, (get) => edit(get('Ingress', 'event-service')));
    const refusal = `ingress-tls: Ingress event-service: host events.${stack}.example.com has no TLS (set event-stack:app.tls / grafana.tls)`;
    expect(refusedByManifests(stack, objects)).toEqual([refusal]);
    expect(at(await packReports(objects, stack), 'mandatory').filter((r) => r.startsWith('ingress-'))).toEqual([refusal]);
    expect(clusterSemanticsProblems(objects, facts(stack))).toEqual(semantics);
  });
});

describe('when a secret reaches a command line, then "no secret on a command line" fails', () => {
  const CMD: CheckName = 'no secret on a command line';
  test('$(VAR) of a Secret-filled variable in args (the Redis defect of issue #13 item 5)', () => {
    const problems = broken('dev', CMD, (get) => {
      const redis = container(get('Deployment', 'redis'));
      redis.envFrom = [{ secretRef: { name: 'redis-config' } }];
      redis.args = ['--requirepass', '$(REDIS_PASSWORD)'];
      get('Secret', 'redis-config').stringData.REDIS_PASSWORD = 'x'.repeat(32);
    });
    expect(problems).toEqual(["Deployment/redis container redis: $(REDIS_PASSWORD) puts a Secret's value on the command line"]);
  });

  test('a Secret value written into the command', () => {
    const problems = broken('dev', CMD, (get) => {
      const url = get('Secret', 'event-service-secret').stringData.DATABASE_URL;
      container(get('CronJob', 'event-service-maintenance')).command = ['node', 'dist/jobs/maintenance.js', url];
    });
    expect(problems).toContain(
      'CronJob/event-service-maintenance container job: the command line contains the value of Secret/event-service-secret key DATABASE_URL',
    );
  });
});

describe('when a pod breaks the Pod Security level its namespace enforces, then the admission check fails', () => {
  const PSA: CheckName = 'pods pass the Pod Security level of their namespace';
  test.each([
    [
      'a hostPath volume',
      (get: any) => podOf(get('Deployment', 'redis')).spec.volumes.push({ name: 'host', hostPath: { path: '/var/run' } }),
      /Deployment\/redis: .*volume host is a hostPath/,
    ],
    ['the host network', (get: any) => (podOf(get('Deployment', 'pushgateway')).spec.hostNetwork = true), /hostNetwork is set/],
    [
      'a container that may escalate privileges',
      (get: any) => delete container(get('Job', 'event-service-migrate')).securityContext.allowPrivilegeEscalation,
      /container job does not set allowPrivilegeEscalation: false/,
    ],
    [
      'an added capability',
      (get: any) => (container(get('StatefulSet', 'alertmanager')).securityContext.capabilities.add = ['NET_ADMIN']),
      /adds capability NET_ADMIN/,
    ],
    [
      'no seccomp profile',
      (get: any) => {
        delete podOf(get('CronJob', 'event-service-maintenance')).spec.securityContext.seccompProfile;
        delete container(get('CronJob', 'event-service-maintenance')).securityContext.seccompProfile;
      },
      /no RuntimeDefault\/Localhost seccomp profile/,
    ],
  ])('%s', (_what, edit, message) => {
    expect(broken('dev', PSA, edit).join('\n')).toMatch(message);
  });

  test('a privileged container: the cluster would refuse it, so make manifests and the policy pack refuse it, once', async () => {
    const objects = edited('dev', (get) => (container(get('Deployment', 'redis')).securityContext.privileged = true));
    const refusal = 'Deployment/redis: refused by Pod Security "restricted" of namespace event-stack-dev: container redis is privileged';
    expect(clusterSemanticsProblems(objects, facts('dev'))).toEqual([`${PSA}: ${refusal}`]);
    expect(at(await packReports(objects, 'dev'), 'mandatory')).toEqual([`pods-pass-pod-security: ${refusal}`]);
    expect(violations(objects, 'dev')).toEqual([]);
  });

  test('a namespace without the label admits the same pod', () => {
    const problems = broken('dev', PSA, (get) => {
      podOf(get('Deployment', 'pushgateway')).spec.hostNetwork = true;
      delete get('Namespace', 'event-stack-dev').metadata.labels!['pod-security.kubernetes.io/enforce'];
    });
    expect(problems).toEqual([]);
  });
});

const SCHED: CheckName = 'disruption budgets, autoscaling and spread hold';

describe('when a budget, autoscaler or spread cannot work, then "disruption budgets, autoscaling and spread hold" fails', () => {
  test.each([
    [
      'a budget that selects nothing',
      (get: any) => (get('PodDisruptionBudget', 'event-service').spec.selector.matchLabels['app.kubernetes.io/component'] = 'api'),
      /PodDisruptionBudget\/event-service: its selector matches no pod template/,
    ],
    [
      'a budget as large as the fewest replicas',
      (get: any) => (get('PodDisruptionBudget', 'event-service').spec.minAvailable = 3),
      /minAvailable 3 with as few as 3 replica\(s\) of Rollout\/event-service blocks every node drain/,
    ],
    [
      'an autoscaler aimed at a missing Rollout',
      (get: any) => (get('HorizontalPodAutoscaler', 'event-service').spec.scaleTargetRef.name = 'events'),
      /scales Rollout events, which the stack does not declare/,
    ],
    [
      'a CPU autoscaler over pods without a CPU request',
      (get: any) => delete container(get('Rollout', 'event-service')).resources.requests.cpu,
      /requests no CPU/,
    ],
    [
      'a Rollout that also fixes its replicas',
      (get: any) => (get('Rollout', 'event-service').spec.replicas = 3),
      /also sets spec\.replicas/,
    ],
    [
      'a spread counting other pods',
      (get: any) =>
        (podOf(get('Rollout', 'event-service')).spec.topologySpreadConstraints[0].labelSelector.matchLabels['app.kubernetes.io/component'] =
          'worker'),
      /topology spread over kubernetes\.io\/hostname counts pods that do not include its own/,
    ],
  ])('%s', (_what, edit, message) => {
    expect(broken('prod', SCHED, edit).join('\n')).toMatch(message);
  });

  test('a StatefulSet naming a missing Service', () => {
    const problems = broken('dev', SCHED, (get) => (get('StatefulSet', 'prometheus').spec.serviceName = 'prometheus-headless'));
    expect(problems).toEqual(['StatefulSet/prometheus: serviceName prometheus-headless is not a Service of the stack']);
  });
});

describe('when a rollout or a drain stalls on a cluster with a tainted node, then "disruption budgets, autoscaling and spread hold" fails', () => {
  const spreadOf = (get: any) => podOf(get('Rollout', 'event-service')).spec;
  test.each([
    [
      'a hard spread that counts the tainted node and every revision (as before issue 25)',
      (get: any) => {
        delete spreadOf(get).affinity;
        for (const t of spreadOf(get).topologySpreadConstraints) {
          delete t.nodeTaintsPolicy;
          delete t.matchLabelKeys;
        }
      },
      'Rollout/event-service (3 replicas, 4 nodes, one tainted): the rollout stalls with 3 old pod(s) left and 1 new pod(s) Pending',
    ],
    [
      'an anti-affinity that keeps the surge pod off the nodes of the replicas it replaces',
      (get: any) => delete spreadOf(get).affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].matchLabelKeys,
      'Rollout/event-service (3 replicas, 4 nodes, one tainted): the rollout stalls with 3 old pod(s) left and 1 new pod(s) Pending',
    ],
    [
      'a budget of minAvailable 1 (as before issue 25)',
      (get: any) =>
        (get('PodDisruptionBudget', 'event-service').spec = {
          ...get('PodDisruptionBudget', 'event-service').spec,
          maxUnavailable: undefined,
          minAvailable: 1,
        }),
      'PodDisruptionBudget/event-service: minAvailable lets a drain take 2 replicas of Rollout/event-service at once',
    ],
    [
      'a budget no drain can satisfy',
      (get: any) =>
        (get('PodDisruptionBudget', 'event-service').spec = {
          ...get('PodDisruptionBudget', 'event-service').spec,
          maxUnavailable: undefined,
          minAvailable: '100%',
        }),
      'Rollout/event-service (3 replicas, 4 nodes, one tainted): draining node-1 stalls: the budget allows no eviction',
    ],
    [
      'no minReadySeconds',
      (get: any) => delete get('Rollout', 'event-service').spec.minReadySeconds,
      'Rollout/event-service: no minReadySeconds, so a pod that fails right after its first Ready already counts as available',
    ],
  ])('on a cluster with a tainted node, %s', (_what, edit, message) => {
    expect(broken('prod', SCHED, edit)).toContain(message);
  });

  test('in staging (2 replicas, soft spread), a 3-node cluster with one tainted node completes a rollout and a drain', () => {
    const problems = CHECKS[SCHED](runs.get('staging')!.kubernetesObjects);
    expect(problems).toEqual([]);
    expect(clusterFor(2)).toHaveLength(3);
  });
});

describe('when a canary release is miswired, then "canary releases are wired" fails', () => {
  test.each([
    [
      'a canary Service whose selector misses the pods',
      (get: any) => (get('Service', 'event-service-canary').spec.selector['app.kubernetes.io/component'] = 'canary'),
      'Rollout/event-service: Service event-service-canary does not select its pods',
    ],
    [
      'the Ingress routed to the stable Service (the canary would get no public traffic)',
      (get: any) => (get('Ingress', 'event-service').spec.rules[0].http.paths[0].backend.service.name = 'event-service-stable'),
      "Rollout/event-service: an Ingress routes to Service event-service-stable, which the controller narrows to one side's pods (without traffic routing)",
    ],
    [
      'an autoscaler naming the Rollout with the apps/v1 API (no such kind there)',
      (get: any) => (get('HorizontalPodAutoscaler', 'event-service').spec.scaleTargetRef.apiVersion = 'apps/v1'),
      'HorizontalPodAutoscaler/event-service: scales Rollout event-service through apps/v1, not argoproj.io/v1alpha1',
    ],
    [
      'an analysis step naming a template that does not exist',
      (get: any) =>
        (get('Rollout', 'event-service').spec.strategy.canary.steps[2].analysis.templates[0].templateName = 'event-service-smoke'),
      'Rollout/event-service: AnalysisTemplate event-service-smoke is not declared by the stack',
    ],
    [
      'an analysis step without the canary hash',
      (get: any) => (get('Rollout', 'event-service').spec.strategy.canary.steps[5].analysis.args = []),
      'Rollout/event-service: its analysis does not give argument canary-pod-template-hash of AnalysisTemplate/event-service-canary',
    ],
    [
      'an analysis asking a Prometheus Service the stack does not have',
      (get: any) =>
        (get('AnalysisTemplate', 'event-service-canary').spec.metrics[0].provider.prometheus.address =
          'http://prometheus-server.event-stack-prod.svc.cluster.local:9090'),
      'AnalysisTemplate/event-service-canary metric api-requests: address http://prometheus-server.event-stack-prod.svc.cluster.local:9090 reaches no pod of the stack (Service prometheus-server)',
    ],
    [
      'Prometheus naming the app pods by address instead of pod name (the canary matcher would select nothing)',
      (get: any) =>
        promConfig(get, (config: any) => {
          const job = config.scrape_configs.find((j: any) => j.job_name === 'event-service');
          job.relabel_configs = job.relabel_configs.filter((r: any) => r.target_label !== 'instance');
        }),
      /AnalysisTemplate\/event-service-canary metric api-requests: pods of Rollout\/event-service are scraped as instance="event-service-0\.pod:8080", not by pod name/,
    ],
  ])('%s', (_what, edit, message) => {
    const problems = broken('prod', 'canary releases are wired', edit);
    if (typeof message === 'string') expect(problems).toContain(message);
    else expect(problems.join('\n')).toMatch(message);
  });
});

describe("the canary's flows and autoscaler", () => {
  test('when staging renders, then the controller may ask its Prometheus, and nothing else of the stack', () => {
    const flows = allowedFlows(runs.get('staging')!.kubernetesObjects, facts('staging')).map(flowKey);
    expect(flows.filter((f) => f.startsWith('the Argo Rollouts controller'))).toEqual([
      'the Argo Rollouts controller → StatefulSet/prometheus:9090',
    ]);
  });

  test('without the policy admitting the controller, the analyses cannot reach Prometheus', () => {
    const problems = broken('staging', 'network flows are exactly the intended ones', (_get, objects) =>
      objects.splice(
        objects.findIndex((o) => o.metadata.name === 'prometheus-from-rollouts-controller'),
        1,
      ),
    );
    expect(problems).toEqual([
      'blocked but intended (analysis AnalysisTemplate/event-service-canary): the Argo Rollouts controller → StatefulSet/prometheus:9090',
    ]);
  });

  test('an autoscaler still aimed at the Deployment the Rollout replaced scales nothing', () => {
    const problems = broken('prod', 'disruption budgets, autoscaling and spread hold', (get) =>
      Object.assign(get('HorizontalPodAutoscaler', 'event-service').spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment' }),
    );
    expect(problems).toContain('HorizontalPodAutoscaler/event-service: scales Deployment event-service, which the stack does not declare');
  });
});

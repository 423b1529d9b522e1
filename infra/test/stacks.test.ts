/**
 * The Pulumi program, run offline for each real stack file (no CLI, cluster or registry): what it
 * declares must be valid Kubernetes, obey the policy rules, and carry the repository's dashboards and rules.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as os from 'node:os';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse, stringify } from 'yaml';
import { settings } from '../../app/src/config';
import { SERVICE_ACCOUNT_DIR } from '../../monitoring/src';
import { violations } from '../policies/rules';
import { schemaProblems } from './kubernetes-schema';
import { quantityBytes } from '../components/redis';
import { NON_HEAP_MIB } from '../components/event-service';
import { STACKS, stackFile, stackFileConfig, type KubernetesObject, type OfflineRun } from '../offline';
import { objectsOutsideStackProvider, runFailure as failure, runIsolated as run } from './offline-run';
import { prometheusStageOf } from '../stack-schema';
import { readStackFile } from '../../tools/promote/stack-files';

const ROOT = path.resolve(__dirname, '..', '..');
const DIGEST = /^[a-z0-9./:_-]+@sha256:[0-9a-f]{64}$/;

const filesOf = (dir: string, ext: RegExp) =>
  fs.existsSync(dir)
    ? fs
        .readdirSync(dir)
        .filter((f) => ext.test(f))
        .sort()
    : [];
const find = (r: OfflineRun, kind: string, name: string) => {
  const found = r.kubernetesObjects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`${r.stack} declares no ${kind} ${name}`);
  return found as KubernetesObject & { spec: any; data?: Record<string, string> };
};
/** The app's workload: a Rollout where the stage releases by canary, else the Deployment. */
const appWorkload = (r: OfflineRun) => find(r, r.file.config.rollout === 'canary' ? 'Rollout' : 'Deployment', 'event-service');
const imagesOfApp = (r: OfflineRun) =>
  r.kubernetesObjects
    .filter((o) => o.metadata.labels?.['app.kubernetes.io/name'] === 'event-service')
    .flatMap((o) => JSON.stringify(o).match(/"image":"([^"]+)"/g) ?? [])
    .map((m) => m.slice('"image":"'.length, -1));

const NO_KUBERNETES_SD = /field kubernetes_sd_configs not found in type config\.ScrapeConfig/;

/**
 * `promtool check config` on the rendered prometheus.yml. Debian builds Prometheus without Kubernetes discovery
 * (its client libraries are not packaged), so its promtool refuses the field itself: then the file is checked
 * again with each kubernetes_sd block replaced by an empty target list, so promtool still checks everything
 * else (relabelling regexes and actions, rule files, alerting); the discovery block is checked by the
 * cluster-semantics suite. A promtool with Kubernetes discovery checks the file as it is.
 */
function promtoolCheckConfig(file: string, config: any): void {
  fs.writeFileSync(file, stringify(config));
  try {
    execFileSync('promtool', ['check', 'config', file], { stdio: 'pipe' });
    return;
  } catch (e) {
    const output = String((e as { stderr?: Buffer; stdout?: Buffer }).stderr) + String((e as { stdout?: Buffer }).stdout);
    if (!NO_KUBERNETES_SD.test(output)) throw new Error(`promtool check config failed:\n${output}`);
  }
  const withoutSd = structuredClone(config);
  for (const job of withoutSd.scrape_configs)
    if (job.kubernetes_sd_configs) {
      delete job.kubernetes_sd_configs;
      job.static_configs = [{ targets: [] }];
    }
  fs.writeFileSync(file, stringify(withoutSd));
  execFileSync('promtool', ['check', 'config', file], { stdio: 'pipe' });
}

// Each isolated load of @pulumi/pulumi adds its own process exit listener.
process.setMaxListeners(64);

const runs = new Map<string, OfflineRun>();
beforeAll(async () => {
  for (const stack of STACKS) runs.set(stack, await run(stack));
}, 120_000);
const declared = (stack: string) => runs.get(stack)!;

describe.each(STACKS)('the %s stack: every object it declares', (stack) => {
  test('when the program runs, then every Kubernetes object validates against the Kubernetes OpenAPI schema', () => {
    const objects = declared(stack).kubernetesObjects;
    expect(objects.length).toBeGreaterThan(30);
    expect(schemaProblems(objects)).toEqual([]);
  });

  test('when the program runs, then every object declares its name, all but the cluster-scoped live in the stack namespace, and those are named after it', () => {
    const namespace = stackFile(stack).config.namespace;
    const clusterScoped = ['Namespace', 'ClusterRole', 'ClusterRoleBinding'];
    for (const o of declared(stack).kubernetesObjects) {
      expect(o.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
      if (!clusterScoped.includes(o.kind)) expect(o.metadata.namespace).toBe(namespace);
      // Several stacks may share a cluster: a cluster-wide name must not collide with another stack's.
      else expect(o.metadata.name.startsWith(namespace)).toBe(true);
    }
  });

  test('when the program runs, then every Kubernetes object is managed by the stack’s provider (its context and namespace), none by a default provider', () => {
    expect(objectsOutsideStackProvider(declared(stack))).toEqual([]);
  });

  test('when the program runs, then every object obeys every policy rule of the policy pack', () => {
    expect(violations(declared(stack).kubernetesObjects)).toEqual([]);
  });

  test('when the program runs, then its Ingresses pass the TLS and API-only rules as enforced in this stage', () => {
    const ingressRules = violations(declared(stack).kubernetesObjects, stack).filter((v) => v.startsWith('ingress-'));
    expect(ingressRules).toEqual([]);
  });

  test('when the program runs, then every ConfigMap and Secret stays under the 1 MiB object limit of Kubernetes', () => {
    for (const o of declared(stack).kubernetesObjects.filter((x) => x.kind === 'ConfigMap' || x.kind === 'Secret'))
      expect(Buffer.byteLength(JSON.stringify(o))).toBeLessThan(1024 * 1024);
  });

  test('when the program runs, then its namespace admits only pods of the Pod Security "restricted" profile', () => {
    const ns = declared(stack).kubernetesObjects.find((o) => o.kind === 'Namespace')!;
    expect(ns.metadata.labels).toMatchObject({
      'pod-security.kubernetes.io/enforce': 'restricted',
      'pod-security.kubernetes.io/audit': 'restricted',
      'pod-security.kubernetes.io/warn': 'restricted',
    });
  });

  test('when the program runs, then it exports the app URL, Grafana URL, the image reference by digest and the version', () => {
    const { outputs } = declared(stack);
    expect(outputs.appUrl).toMatch(/^https?:\/\/[a-z0-9.-]+$/);
    expect(outputs.grafanaUrl).toMatch(/^https?:\/\//);
    expect(outputs.imageRef).toMatch(DIGEST);
    expect(outputs.version).toMatch(/^\d+\.\d+\.\d+/);
    // The token that creates sensors: the same value the app gets, exported for make admin-token.
    expect(outputs.adminToken).toBe(
      (find(declared(stack), 'Secret', 'event-service-secret').stringData as Record<string, string>).ADMIN_TOKEN,
    );
  });
});

describe.each(STACKS)('the %s stack: the Prometheus configuration', (stack) => {
  test('when the program runs, then the Prometheus rules ConfigMap holds exactly the rule files of alerts/rules', () => {
    const dir = path.join(ROOT, 'alerts', 'rules');
    const data = find(declared(stack), 'ConfigMap', 'prometheus-rules').data ?? {};
    expect(Object.keys(data).sort()).toEqual(filesOf(dir, /\.ya?ml$/));
    for (const [file, content] of Object.entries(data)) expect(content).toBe(fs.readFileSync(path.join(dir, file), 'utf8'));
  });

  test('when the program runs, then Prometheus loads the mounted rule files and scrapes every app pod and the Pushgateway', () => {
    const r = declared(stack);
    const config = parse(find(r, 'ConfigMap', 'prometheus-config').data!['prometheus.yml']!);
    const mounts = find(r, 'StatefulSet', 'prometheus').spec.template.spec.containers[0].volumeMounts;
    const rulesMount = mounts.find((m: { name: string }) => m.name === 'rules').mountPath;
    expect(config.rule_files.every((f: string) => f.startsWith(`${rulesMount}/`))).toBe(true);
    const jobs = Object.fromEntries(config.scrape_configs.map((j: { job_name: string }) => [j.job_name, j]));
    const namespace = find(r, 'Namespace', stackFile(stack).config.namespace).metadata.name;
    expect(jobs['event-service'].kubernetes_sd_configs).toEqual([
      {
        role: 'pod',
        namespaces: { names: [namespace] },
        selectors: [{ role: 'pod', label: 'app.kubernetes.io/name=event-service,app.kubernetes.io/component=server' }],
      },
    ]);
    expect(jobs['pushgateway'].honor_labels).toBe(true);
  });

  test('when the program runs, then promtool accepts its prometheus.yml with the rule files, and amtool its alertmanager.yml', () => {
    const r = declared(stack);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `infra-${stack}-`));
    try {
      const config = parse(find(r, 'ConfigMap', 'prometheus-config').data!['prometheus.yml']!);
      fs.mkdirSync(path.join(dir, 'rules'));
      for (const [file, text] of Object.entries(find(r, 'ConfigMap', 'prometheus-rules').data ?? {}))
        fs.writeFileSync(path.join(dir, 'rules', file), text);
      config.rule_files = config.rule_files.map((f: string) => path.join(dir, 'rules', path.basename(f)));
      // Kubernetes mounts the service account's token and CA into the pod; promtool checks that they exist.
      fs.mkdirSync(path.join(dir, 'serviceaccount'));
      for (const file of ['token', 'ca.crt']) fs.writeFileSync(path.join(dir, 'serviceaccount', file), 'stand-in\n');
      const mounted = JSON.stringify(config).replaceAll(SERVICE_ACCOUNT_DIR, path.join(dir, 'serviceaccount'));
      expect(mounted).not.toBe(JSON.stringify(config));
      promtoolCheckConfig(path.join(dir, 'prometheus.yml'), JSON.parse(mounted));
      const am = (find(r, 'Secret', 'alertmanager-config').stringData as Record<string, string>)['alertmanager.yml']!;
      fs.writeFileSync(path.join(dir, 'alertmanager.yml'), am);
      execFileSync('amtool', ['check-config', path.join(dir, 'alertmanager.yml')], { stdio: 'pipe' });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('when the program runs, then its Prometheus names its stage in the external label the promotion gate checks', () => {
    const config = parse(find(declared(stack), 'ConfigMap', 'prometheus-config').data!['prometheus.yml']!);
    const expected = prometheusStageOf(stackFile(stack).config, stack);
    expect(config.global.external_labels).toEqual({ stage: expected });
  });

  test('when Prometheus sends alerts, then it sends them to every Alertmanager replica, not through one load-balanced Service', () => {
    const r = declared(stack);
    const config = parse((find(r, 'ConfigMap', 'prometheus-config').data as Record<string, string>)['prometheus.yml']!);
    const replicas = find(r, 'StatefulSet', 'alertmanager').spec.replicas;
    expect(config.alerting.alertmanagers[0].static_configs[0].targets).toHaveLength(replicas);
  });
});

describe.each(STACKS)('the %s stack: monitoring storage and scope', (stack) => {
  test('when the program runs, then Prometheus keeps at most its retention size, and kube-state-metrics watches only the stack namespace, allowed to list and watch exactly what it exports', () => {
    const r = declared(stack);
    const { namespace, monitoring } = stackFile(stack).config;
    if (monitoring.mode !== 'bundled') throw new Error(`stack ${stack} is expected to bundle its monitoring`);
    const promArgs = find(r, 'StatefulSet', 'prometheus').spec.template.spec.containers[0].args;
    expect(promArgs).toContain(`--storage.tsdb.retention.size=${monitoring.prometheus.retentionSize}`);
    const ksm = find(r, 'Deployment', 'kube-state-metrics').spec.template.spec;
    expect(ksm.serviceAccountName).toBe('kube-state-metrics');
    expect(ksm.containers[0].args).toContain(`--namespaces=${namespace}`);
    expect(ksm.containers[0].args).toContain('--resources=pods,deployments,horizontalpodautoscalers,cronjobs');
    // With the database in the cluster it also exports the CloudNativePG Cluster (its CustomResourceState configuration).
    const inCluster = !stackFile(stack).config.postgres.external;
    expect(find(r, 'Role', 'kube-state-metrics').rules).toEqual([
      { apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch'] },
      { apiGroups: ['apps'], resources: ['deployments'], verbs: ['list', 'watch'] },
      { apiGroups: ['autoscaling'], resources: ['horizontalpodautoscalers'], verbs: ['list', 'watch'] },
      { apiGroups: ['batch'], resources: ['cronjobs'], verbs: ['list', 'watch'] },
      ...(inCluster ? [{ apiGroups: ['postgresql.cnpg.io'], resources: ['clusters'], verbs: ['list', 'watch'] }] : []),
    ]);
    expect(find(r, 'RoleBinding', 'kube-state-metrics').subjects).toEqual([
      { kind: 'ServiceAccount', name: 'kube-state-metrics', namespace },
    ]);
    const jobs = parse(find(r, 'ConfigMap', 'prometheus-config').data!['prometheus.yml']!).scrape_configs.map(
      (j: { job_name: string }) => j.job_name,
    );
    expect(jobs).toEqual(expect.arrayContaining(['kube-state-metrics', 'kubelet', 'kubelet-cadvisor']));
  });

  test('when the database runs in the cluster, then kube-state-metrics also exports its CloudNativePG Cluster, discovering CRDs read-only', () => {
    const r = declared(stack);
    const { namespace } = stackFile(stack).config;
    const inCluster = !stackFile(stack).config.postgres.external;
    const ksm = find(r, 'Deployment', 'kube-state-metrics').spec.template.spec;
    const config = ksm.containers[0].args.indexOf('--custom-resource-state-config');
    const crdAccess = r.kubernetesObjects.filter((o) => o.metadata.name === `${namespace}-kube-state-metrics-crds`);
    if (!inCluster) {
      expect(config).toBe(-1);
      expect(crdAccess).toEqual([]);
    } else {
      expect(parse(ksm.containers[0].args[config + 1]).spec.resources[0].groupVersionKind).toEqual({
        group: 'postgresql.cnpg.io',
        version: 'v1',
        kind: 'Cluster',
      });
      expect(crdAccess.map((o) => o.kind).sort()).toEqual(['ClusterRole', 'ClusterRoleBinding']);
      expect((crdAccess.find((o) => o.kind === 'ClusterRole') as any).rules).toEqual([
        { apiGroups: ['apiextensions.k8s.io'], resources: ['customresourcedefinitions'], verbs: ['list', 'watch'] },
      ]);
      expect((crdAccess.find((o) => o.kind === 'ClusterRoleBinding') as any).subjects).toEqual([
        { kind: 'ServiceAccount', name: 'kube-state-metrics', namespace },
      ]);
    }
  });
});

describe.each(STACKS)('the %s stack: public links and pushed metrics', (stack) => {
  test('when the program runs, then Prometheus, Alertmanager and Grafana link to their public URLs, never the promote port-forward', () => {
    const r = declared(stack);
    const monitoring = stackFile(stack).config.monitoring;
    if (monitoring.mode !== 'bundled') throw new Error(`${stack} runs bundled monitoring`);
    const publicUrls = {
      prometheus: monitoring.prometheus.externalUrl,
      alertmanager: monitoring.alertmanager.externalUrl,
      grafana: monitoring.grafana.externalUrl,
    };
    expect(Object.values(publicUrls).every((u) => u.startsWith('https://'))).toBe(true);
    const args: string[] = find(r, 'StatefulSet', 'prometheus').spec.template.spec.containers[0].args;
    expect(args).toContain(`--web.external-url=${publicUrls.prometheus}`);
    expect(args.filter((a) => a.startsWith('--web.console'))).toEqual([]);
    expect(find(r, 'StatefulSet', 'alertmanager').spec.template.spec.containers[0].args).toContain(
      `--web.external-url=${publicUrls.alertmanager}`,
    );
    expect(find(r, 'Deployment', 'grafana').spec.template.spec.containers[0].env).toContainEqual({
      name: 'GF_SERVER_ROOT_URL',
      value: publicUrls.grafana,
    });
    const all = JSON.stringify(r.kubernetesObjects.filter((o) => ['StatefulSet', 'Deployment'].includes(o.kind)));
    expect(all).not.toContain(stackFile(stack).config.prometheusUrl);
  });

  test('when the Pushgateway restarts, then the pushed metrics survive: it persists them to a claimed volume', () => {
    const r = declared(stack);
    const deployment = find(r, 'Deployment', 'pushgateway').spec;
    const pod = deployment.template.spec;
    const file = (pod.containers[0].args as string[] | undefined)?.find((a) => a.startsWith('--persistence.file='))?.split('=')[1];
    expect(file).toBeDefined();
    const mount = (pod.containers[0].volumeMounts ?? []).find((m: { mountPath: string }) => file!.startsWith(`${m.mountPath}/`));
    expect(mount).toBeDefined();
    const volume = pod.volumes.find((v: { name: string }) => v.name === mount.name);
    expect(find(r, 'PersistentVolumeClaim', volume.persistentVolumeClaim.claimName).spec.accessModes).toEqual(['ReadWriteOnce']);
    expect(deployment.strategy).toEqual({ type: 'Recreate' }); // a ReadWriteOnce volume: the old pod must let go first
  });
});

describe.each(STACKS)('the %s stack: Alertmanager and Grafana', (stack) => {
  test('when the program runs, then the Grafana dashboards ConfigMap holds exactly the JSON files of dashboards/json', () => {
    const dir = path.join(ROOT, 'dashboards', 'json');
    const data = find(declared(stack), 'ConfigMap', 'grafana-dashboards').data ?? {};
    expect(Object.keys(data).sort()).toEqual(filesOf(dir, /\.json$/));
    for (const [file, content] of Object.entries(data)) expect(content).toBe(fs.readFileSync(path.join(dir, file), 'utf8'));
  });

  test('when the program runs, then Alertmanager gets the receiver URLs from the stack secret, in a Secret', () => {
    const r = declared(stack);
    const config = parse((find(r, 'Secret', 'alertmanager-config').stringData as Record<string, string>)['alertmanager.yml']!);
    const urls = Object.fromEntries(
      config.receivers.map((rc: { name: string; webhook_configs: { url: string }[] }) => [rc.name, rc.webhook_configs[0]!.url]),
    );
    expect(urls).toEqual({
      pager: 'https://pager.test.invalid/hook',
      ticket: 'https://tickets.test.invalid/hook',
      heartbeat: 'https://heartbeat.test.invalid/ping',
    });
    expect(config.route.routes.find((x: { receiver: string }) => x.receiver === 'pager').matchers).toContain('severity="critical"');
  });

  test('when the program runs, then Grafana is provisioned with the Prometheus Service and loads dashboards from their mount', () => {
    const r = declared(stack);
    const provisioning = find(r, 'ConfigMap', 'grafana-provisioning').data!;
    const pod = find(r, 'Deployment', 'grafana').spec.template.spec;
    const dashboardsMount = pod.containers[0].volumeMounts.find((m: { name: string }) => m.name === 'dashboards').mountPath;
    expect(parse(provisioning['datasources.yml']!).datasources[0].url).toMatch(
      /^http:\/\/prometheus\.[a-z0-9-]+\.svc\.cluster\.local:9090$/,
    );
    expect(parse(provisioning['dashboards.yml']!).providers[0].options.path).toBe(dashboardsMount);
    const env = Object.fromEntries(pod.containers[0].env.map((e: { name: string; value: string }) => [e.name, e.value]));
    expect(env.GF_AUTH_ANONYMOUS_ENABLED).toBe('false');
    expect(pod.containers[0].envFrom[0].secretRef.name).toBe('grafana-admin');
  });

  test('when Alertmanager runs, then one replica starts no gossip listener and several gossip with each other, keeping silences on a volume where the stack gives one', () => {
    const r = declared(stack);
    const spec = find(r, 'StatefulSet', 'alertmanager').spec;
    const setting = stackFile(stack).config.monitoring;
    if (setting.mode !== 'bundled') throw new Error(`${stack} runs bundled monitoring`);
    const args: string[] = spec.template.spec.containers[0].args;
    expect(spec.replicas).toBe(setting.alertmanager.replicas);
    if (spec.replicas === 1) expect(args).toContain('--cluster.listen-address=');
    else {
      const ns = stackFile(stack).config.namespace;
      expect(args.filter((a) => a.startsWith('--cluster.peer='))).toEqual(
        Array.from({ length: spec.replicas }, (_, i) => `--cluster.peer=alertmanager-${i}.alertmanager-peers.${ns}.svc.cluster.local:9094`),
      );
      expect(find(r, 'Service', 'alertmanager-peers').spec).toMatchObject({ clusterIP: 'None', publishNotReadyAddresses: true });
      expect(spec.serviceName).toBe('alertmanager-peers');
    }
    const claims = (spec.volumeClaimTemplates ?? []).map((c: { metadata: { name: string } }) => c.metadata.name);
    expect(claims).toEqual(setting.alertmanager.storage ? ['data'] : []);
  });

  test('when Grafana runs with a read-only root filesystem, then it logs to stdout only', () => {
    const container = find(declared(stack), 'Deployment', 'grafana').spec.template.spec.containers[0];
    expect(container.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(container.env).toContainEqual({ name: 'GF_LOG_MODE', value: 'console' });
  });
});

describe.each(STACKS)('the %s stack: the service', (stack) => {
  test('when the program runs, then the app ConfigMap holds every non-secret setting of app/src/config.ts and the Secret every secret one', () => {
    const r = declared(stack);
    const entries = Object.entries(settings) as [string, { secret?: boolean }][];
    const config = find(r, 'ConfigMap', 'event-service-config').data ?? {};
    const secret = find(r, 'Secret', 'event-service-secret').stringData as Record<string, string>;
    expect(Object.keys(config).sort()).toEqual(
      entries
        .filter(([, s]) => !s.secret)
        .map(([k]) => k)
        .sort(),
    );
    expect(Object.keys(secret).sort()).toEqual(
      entries
        .filter(([, s]) => s.secret)
        .map(([k]) => k)
        .sort(),
    );
    expect(secret.DATABASE_URL).toMatch(/^postgres:\/\//);
    expect(secret.REDIS_URL).toMatch(/^redis:\/\//);
    expect(secret.ADMIN_TOKEN!.length).toBeGreaterThanOrEqual(32);
  });

  test('when the program runs, then each pod template carries the checksum of the ConfigMaps it mounts, so a change rolls it', () => {
    const r = declared(stack);
    const checksum = (data: Record<string, string>) => {
      const hash = createHash('sha256');
      for (const k of Object.keys(data).sort()) hash.update(`${k}\0${data[k]}\0`);
      return hash.digest('hex');
    };
    const pairs: [string, string, string, string][] = [
      [appWorkload(r).kind, 'event-service', 'event-service-config', 'checksum/config'],
      ['StatefulSet', 'prometheus', 'prometheus-config', 'checksum/config'],
      ['StatefulSet', 'prometheus', 'prometheus-rules', 'checksum/rules'],
      ['Deployment', 'grafana', 'grafana-dashboards', 'checksum/dashboards'],
      ['Deployment', 'grafana', 'grafana-provisioning', 'checksum/provisioning'],
    ];
    for (const [kind, name, configMap, annotation] of pairs)
      expect(find(r, kind, name).spec.template.metadata.annotations[annotation]).toBe(checksum(find(r, 'ConfigMap', configMap).data ?? {}));
  });

  test('when Prometheus looks for the app pods, then it finds them by port name, and the pods carry no prometheus.io annotation nothing reads', () => {
    const r = declared(stack);
    expect(Object.keys(appWorkload(r).spec.template.metadata.annotations).sort()).toEqual(['checksum/config', 'checksum/secret']);
    const config = find(r, 'ConfigMap', 'prometheus-config').data!['prometheus.yml']!;
    expect(config).not.toMatch(/__meta_kubernetes_pod_annotation/);
    expect(config).toMatch(/__meta_kubernetes_pod_container_port_name/);
  });

  test('when SIGTERM arrives, then the pod gets the preStop pause plus SHUTDOWN_GRACE_MS before it is killed', () => {
    const r = declared(stack);
    const pod = appWorkload(r).spec.template.spec;
    const graceMs = Number(find(r, 'ConfigMap', 'event-service-config').data!.SHUTDOWN_GRACE_MS);
    // The kubelet's sleep action: no second node process inside the container's memory limit (issue 25).
    expect(pod.containers[0].lifecycle.preStop.exec).toBeUndefined();
    const preStopMs = pod.containers[0].lifecycle.preStop.sleep.seconds * 1000;
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(preStopMs + graceMs);
  });

  test('when the service runs, then its V8 heap ceiling is derived from the container memory limit and stays below it', () => {
    const container = appWorkload(declared(stack)).spec.template.spec.containers[0];
    const options: string = container.env.find((e: { name: string }) => e.name === 'NODE_OPTIONS').value;
    const oldSpaceMiB = Number(/--max-old-space-size=(\d+)/.exec(options)![1]);
    const limitMiB = quantityBytes(container.resources.limits.memory) / 2 ** 20;
    expect(oldSpaceMiB).toBe(Math.max(Math.floor(limitMiB / 2), limitMiB - NON_HEAP_MIB));
    expect(oldSpaceMiB + 3 * 16 + 64).toBeLessThan(limitMiB);
  });
});

describe.each(STACKS)('the %s stack: Redis, PostgreSQL and their exporters', (stack) => {
  test('when Redis starts, then its password and memory bound come from a mounted file sized from the container limit', () => {
    const r = declared(stack);
    const container = find(r, 'Deployment', 'redis').spec.template.spec.containers[0];
    const conf = (find(r, 'Secret', 'redis-config').stringData as Record<string, string>)['redis.conf']!;
    const limit = quantityBytes(container.resources.limits.memory);
    expect(Number(/^maxmemory (\d+)$/m.exec(conf)![1])).toBe(Math.floor(limit * 0.75));
    expect(conf).toMatch(/^maxmemory-policy allkeys-lru$/m);
    expect(conf).toMatch(/^requirepass \S{32}$/m);
    expect(container.args).toEqual(['/etc/redis/redis.conf']);
    expect(container.env ?? []).toEqual([]);
  });

  test('when the program runs, then the PostgreSQL and Redis exporters run as their own Deployments, connect through a Secret, and Prometheus scrapes them', () => {
    const r = declared(stack);
    const external = stackFile(stack).config.postgres.external;
    const jobs = Object.fromEntries(
      parse(find(r, 'ConfigMap', 'prometheus-config').data!['prometheus.yml']!).scrape_configs.map(
        (j: { job_name: string; static_configs?: Array<{ targets: string[] }> }) => [j.job_name, j.static_configs?.[0]?.targets],
      ),
    );
    for (const [name, port, variable] of [
      ['postgres-exporter', 9187, 'DATA_SOURCE_NAME'],
      ['redis-exporter', 9121, 'REDIS_ADDR'],
    ] as const) {
      const pod = find(r, 'Deployment', name).spec.template.spec;
      expect(pod.containers[0].envFrom).toEqual([{ secretRef: { name: `${name}-connection` } }]);
      expect(JSON.stringify(pod)).not.toMatch(/postgres(ql)?:\/\/|redis:\/\//); // no connection string in the spec
      const secret = find(r, 'Secret', `${name}-connection`).stringData as Record<string, string>;
      expect(secret[variable]).toBeTruthy();
      expect(find(r, 'Service', name).spec.ports[0].port).toBe(port);
      expect(jobs[name]).toEqual([
        `${name}.${r.kubernetesObjects.find((o) => o.kind === 'Namespace')!.metadata.name}.svc.cluster.local:${port}`,
      ]);
    }
    const dsn = new URL((find(r, 'Secret', 'postgres-exporter-connection').stringData as Record<string, string>).DATA_SOURCE_NAME!);
    // An external database keeps its own TLS settings; the in-cluster one speaks no TLS.
    expect(dsn.searchParams.get('sslmode')).toBe(external ? 'require' : 'disable');
    expect(jobs['prometheus']).toEqual(['localhost:9090']);
  });

  test('when the program runs, then only Prometheus may reach the exporters, and the exporters may reach their database', () => {
    const r = declared(stack);
    const policies = r.kubernetesObjects.filter((o) => o.kind === 'NetworkPolicy') as (KubernetesObject & { spec: any })[];
    const from = (target: string) =>
      policies
        .filter((p) => p.spec.podSelector.matchLabels?.['app.kubernetes.io/name'] === target)
        .flatMap((p) => p.spec.ingress.flatMap((i: { from: Array<{ podSelector: { matchLabels: Record<string, string> } }> }) => i.from))
        .map((f) => f.podSelector.matchLabels['app.kubernetes.io/name']);
    expect(from('postgres-exporter')).toEqual(['prometheus']);
    expect(from('redis-exporter')).toEqual(['prometheus']);
    expect(from('redis')).toEqual(['event-service', 'redis-exporter']);
    if (!stackFile(stack).config.postgres.external) {
      // CloudNativePG's instances: the app's pods, the exporter, the other instances (replication); the operator by namespace.
      const instances = policies.find((p) => p.spec.podSelector.matchLabels?.['cnpg.io/podRole'] === 'instance' && p.spec.ingress)!;
      const [clients, operator] = instances.spec.ingress;
      expect(clients.from.map((f: { podSelector: { matchLabels: Record<string, string> } }) => f.podSelector.matchLabels)).toEqual([
        { 'app.kubernetes.io/name': 'event-service' },
        { 'app.kubernetes.io/name': 'postgres-exporter' },
        { 'cnpg.io/podRole': 'instance' },
      ]);
      expect(operator.from).toEqual([{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'cnpg-system' } } }]);
    }
  });
});

test('when an object breaks the Kubernetes schema, then the validator names the object and the field', () => {
  const deployment = structuredClone(find(declared('dev'), 'Deployment', 'event-service')) as KubernetesObject & { spec: any };
  deployment.spec.replicas = 'three';
  const [problem] = schemaProblems([deployment]);
  expect(problem).toMatch(/^Deployment event-service: .*replicas/);
});

test('when the four stacks run, then only dev declares an image build', () => {
  const builders = STACKS.filter((s) => declared(s).resources.some((r) => r.type.startsWith('docker')));
  expect(builders).toEqual(['dev']);
  const build = declared('dev').resources.find((r) => r.type === 'docker:index/image:Image')!;
  const version = (JSON.parse(fs.readFileSync(path.join(ROOT, 'app', 'package.json'), 'utf8')) as { version: string }).version;
  expect(build.inputs.imageName).toMatch(new RegExp(`:${version.replace(/\./g, '\\.')}$`));
  expect((build.inputs.build as { dockerfile: string }).dockerfile).toBe(path.join(ROOT, 'app', 'Dockerfile'));
  // The same build arguments `make image` passes: /version and the OCI labels carry the real commit.
  const args = (build.inputs.build as { args: Record<string, string> }).args;
  expect(args).toMatchObject({ VERSION: version, GIT_COMMIT: expect.stringMatching(/^[0-9a-f]{40}$/) });
  expect(args.CREATED).toMatch(/^\d{4}-\d{2}-\d{2}T/);
  expect(declared('dev').outputs.version).toBe(version);
});

test.each(['qa', 'staging', 'prod'])(
  'when %s pins an image (as make promote writes it), then every app workload uses exactly that digest',
  async (stack) => {
    const pinned = { ref: `registry.example.com/event-stack/event-service@sha256:${'e'.repeat(64)}`, version: '1.2.3' };
    const r = await run(stack, { set: { 'event-stack:image': JSON.stringify(pinned) } });
    const images = imagesOfApp(r);
    expect(images.length).toBe(3); // service, migration Job, maintenance CronJob
    expect(new Set(images)).toEqual(new Set([pinned.ref]));
    expect(r.outputs).toMatchObject({ imageRef: pinned.ref, version: pinned.version });
  },
);

test.each(['qa', 'staging', 'prod'])(
  'when %s was never promoted, then its stack file says so and the program refuses to deploy it',
  async (stack) => {
    expect(stackFile(stack).config.image.kind).toBe('never-promoted');
    const err = await failure(stack, { keepNeverPromoted: true });
    expect(err.message).toContain(
      `event-stack:image: stack ${stack} was never promoted, so it has no image to run. Promote a version first: make promote VERSION=x.y.z TO=${stack}`,
    );
  },
);

test('when a stack names its Prometheus stage (event-stack:prometheusStage), then its Prometheus carries that label and make promote requires the same', async () => {
  const set = { 'event-stack:prometheusStage': 'shared-dev' };
  const r = await run('dev', { set });
  const config = parse(find(r, 'ConfigMap', 'prometheus-config').data!['prometheus.yml']!);
  expect(config.global.external_labels).toEqual({ stage: 'shared-dev' });
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'prometheus-stage-'));
  try {
    const file = fs.readFileSync(path.join(ROOT, 'Pulumi.dev.yaml'), 'utf8');
    fs.writeFileSync(
      path.join(root, 'Pulumi.dev.yaml'),
      file.replace(/^config:\n/m, `config:\n  event-stack:prometheusStage: shared-dev\n`),
    );
    expect(readStackFile(root, 'dev').prometheusStage).toBe('shared-dev');
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('when dev runs, then its app workloads use the digest of the image it built', () => {
  const images = imagesOfApp(declared('dev'));
  expect(images.length).toBe(3);
  expect(new Set(images)).toEqual(new Set([declared('dev').outputs.imageRef]));
});

test('when prod runs, then the app has at least 2 replicas, a PodDisruptionBudget of one at a time, an autoscaler and never two replicas on one node', () => {
  const r = declared('prod');
  const hpa = find(r, 'HorizontalPodAutoscaler', 'event-service');
  expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
  // prod releases by canary: the autoscaler scales the Rollout that replaces the Deployment.
  expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', name: 'event-service' });
  expect(find(r, 'PodDisruptionBudget', 'event-service').spec).toEqual(expect.objectContaining({ maxUnavailable: 1 }));
  // Hard across nodes (issue #13 item 6: soft spread let every replica land on one node), soft across zones.
  expect(find(r, 'Rollout', 'event-service').spec.template.spec.topologySpreadConstraints).toEqual([
    expect.objectContaining({ topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'DoNotSchedule', maxSkew: 1 }),
    expect.objectContaining({ topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway', maxSkew: 1 }),
  ]);
  // maxSkew 1 alone allows 2/1/1: the anti-affinity is what keeps two replicas of a revision off one node.
  expect(
    find(r, 'Rollout', 'event-service').spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution,
  ).toEqual([expect.objectContaining({ topologyKey: 'kubernetes.io/hostname', matchLabelKeys: ['rollouts-pod-template-hash'] })]);
});

test('when a stack has one replica, then it declares neither PodDisruptionBudget nor autoscaler', () => {
  const kinds = declared('dev').kubernetesObjects.map((o) => o.kind);
  expect(kinds).not.toContain('PodDisruptionBudget');
  expect(kinds).not.toContain('HorizontalPodAutoscaler');
});

test('when prod uses an external database, then it declares no Postgres and the app gets the secret DSN', () => {
  const r = declared('prod');
  expect(r.kubernetesObjects.some((o) => o.metadata.name === 'postgres')).toBe(false);
  expect((find(r, 'Secret', 'event-service-secret').stringData as Record<string, string>).DATABASE_URL).toContain('db.test.invalid');
});

describe('when the configuration is wrong, then the program fails before declaring any resource, naming the key', () => {
  test.each([
    ['qa', 'event-stack:namespace'],
    ['staging', 'event-stack:app'],
    ['prod', 'event-stack:image'],
    ['dev', 'event-stack:prometheus'],
    ['qa', 'event-stack:alertReceivers'],
    ['prod', 'event-stack:databaseUrl'],
    ['qa', 'event-stack:prometheusUrl'],
  ])('%s without %s', async (stack, key) => {
    const error = await failure(stack, { remove: [key] });
    expect(error.message).toContain(key);
    expect(error.declared).toEqual([]);
  });

  test.each([
    ['a tag', 'registry.example.com/event-stack/event-service:0.1.0', /is a tag, not a digest/],
    ['latest', 'registry.example.com/event-stack/event-service:latest', /is a tag, not a digest/],
    ['a short digest', 'registry.example.com/event-stack/event-service@sha256:abc', /<repository>@sha256:<64 hex>/],
  ])('staging pinning %s', async (_what, ref, message) => {
    const error = await failure('staging', { set: { 'event-stack:image': JSON.stringify({ ref, version: '0.1.0' }) } });
    expect(error.message).toMatch(/event-stack:image\.ref/);
    expect(error.message).toMatch(message);
    expect(error.declared).toEqual([]);
  });

  test.each([
    ['latest', 'grafana/grafana:latest'],
    ['no tag', 'grafana/grafana'],
  ])('qa with a third-party image of %s', async (_what, image) => {
    const grafana = { ...JSON.parse(stackFileConfig('qa')['event-stack:grafana']!), image };
    const error = await failure('qa', { set: { 'event-stack:grafana': JSON.stringify(grafana) } });
    expect(error.message).toContain('event-stack:grafana.image');
    expect(error.declared).toEqual([]);
  });

  test.each(['staging', 'prod'])('%s without app.tls (TLS is required there)', async (stack) => {
    const app = JSON.parse(stackFileConfig(stack)['event-stack:app']!);
    delete app.tls;
    const error = await failure(stack, { set: { 'event-stack:app': JSON.stringify(app) } });
    expect(error.message).toContain(`event-stack:app.tls: required in ${stack}`);
    expect(error.declared).toEqual([]);
  });

  test('a stack that both pins and builds', async () => {
    const error = await failure('qa', { set: { 'event-stack:build': JSON.stringify({ repository: 'registry.example.com/x' }) } });
    expect(error.message).toMatch(/event-stack:image: set only one of event-stack:image and event-stack:build/);
  });
});

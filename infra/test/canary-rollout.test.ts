/**
 * The canary release as the program renders it: staging and prod (rollout: canary) run the service as an Argo
 * Rollouts Rollout carrying exactly the pod template the Deployment would carry, dev and qa (rolling) keep the
 * Deployment; the Rollout's steps, Services and autoscaler; and the Rollouts CRD model refusing a broken Rollout.
 */
import { STACKS, type KubernetesObject, type OfflineRun } from '../offline';
import { DEFAULT_PROMOTION } from '../stack-schema';
import { schemaProblems } from './kubernetes-schema';
import { runIsolated as run } from './offline-run';

process.setMaxListeners(64);

type Obj = KubernetesObject & { spec: any };
const runs = new Map<string, OfflineRun>();
beforeAll(async () => {
  for (const stack of STACKS) runs.set(stack, await run(stack));
  for (const stack of ['staging', 'prod']) runs.set(`${stack}-rolling`, await run(stack, { set: { 'event-stack:rollout': 'rolling' } }));
}, 120_000);

const objects = (key: string) => runs.get(key)!.kubernetesObjects as Obj[];
const find = (key: string, kind: string, name: string) => {
  const found = objects(key).find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`${key} declares no ${kind} ${name}`);
  return found;
};

test.each(['dev', 'qa'])(
  'when %s renders (rolling), then the service is a Deployment and nothing of Argo Rollouts is declared',
  (stack) => {
    expect(runs.get(stack)!.file.config.rollout).toBe('rolling');
    expect(find(stack, 'Deployment', 'event-service').spec.strategy.type).toBe('RollingUpdate');
    expect(objects(stack).filter((o) => o.apiVersion.startsWith('argoproj.io/'))).toEqual([]);
    expect(objects(stack).map((o) => o.metadata.name)).not.toContain('event-service-canary');
  },
);

describe.each(['staging', 'prod'])('%s (rollout: canary): the Rollout in place of the Deployment', (stack) => {
  test('when rendered, then a Rollout replaces the Deployment with the very pod template, selector and labels the Deployment has', () => {
    expect(runs.get(stack)!.file.config.rollout).toBe('canary');
    expect(objects(stack).some((o) => o.kind === 'Deployment' && o.metadata.name === 'event-service')).toBe(false);
    const rollout = find(stack, 'Rollout', 'event-service');
    const deployment = find(`${stack}-rolling`, 'Deployment', 'event-service');
    expect(rollout.apiVersion).toBe('argoproj.io/v1alpha1');
    expect(rollout.metadata.labels).toEqual(deployment.metadata.labels);
    // The same template but for the label that tells revisions apart in spread and anti-affinity: each controller
    // puts its own on its pods (pod-template-hash on a Deployment's, rollouts-pod-template-hash on a Rollout's).
    const template = JSON.stringify(rollout.spec.template);
    expect(template).toContain('"rollouts-pod-template-hash"');
    expect(JSON.parse(template.replaceAll('"rollouts-pod-template-hash"', '"pod-template-hash"'))).toEqual(deployment.spec.template);
    expect(rollout.spec.minReadySeconds).toBe(deployment.spec.minReadySeconds);
    expect(rollout.spec.selector).toEqual(deployment.spec.selector);
    // The autoscaler owns the count, as it does the Deployment's.
    expect(rollout.spec.replicas).toBeUndefined();
    expect(find(stack, 'HorizontalPodAutoscaler', 'event-service').spec.scaleTargetRef).toEqual({
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Rollout',
      name: 'event-service',
    });
  });

  test('when rendered, then only the workload, the canary objects and the controller policy differ from the rolling rendering', () => {
    const key = (o: Obj) => `${o.kind}/${o.metadata.name}`;
    const rolling = new Map(objects(`${stack}-rolling`).map((o) => [key(o), o]));
    const canary = new Map(objects(stack).map((o) => [key(o), o]));
    const changed = [...new Set([...rolling.keys(), ...canary.keys()])]
      .filter((k) => JSON.stringify(rolling.get(k)) !== JSON.stringify(canary.get(k)))
      .sort();
    expect(changed).toEqual([
      'AnalysisTemplate/event-service-canary',
      'Deployment/event-service',
      'HorizontalPodAutoscaler/event-service',
      'NetworkPolicy/prometheus-from-rollouts-controller',
      'Rollout/event-service',
      'Service/event-service-canary',
      'Service/event-service-stable',
    ]);
  });

  test('when rendered, then the Rollout, like the Deployment, waits for the migration Job of its image', () => {
    const declared = runs.get(stack)!.resources.find((r) => r.type === 'kubernetes:argoproj.io/v1alpha1:Rollout')!;
    expect(declared.options.dependsOn).toContain('app-migrate');
  });
});

describe.each(['staging', 'prod'])('%s (rollout: canary): its steps, Services and analysis', (stack) => {
  test('when rendered, then the canary takes 10 % and then half of the pods, each step paused and analysed, without losing capacity', () => {
    const canary = find(stack, 'Rollout', 'event-service').spec.strategy.canary;
    const analysis = {
      analysis: {
        templates: [{ templateName: 'event-service-canary' }],
        args: [{ name: 'canary-pod-template-hash', valueFrom: { podTemplateHashValue: 'Latest' } }],
      },
    };
    expect(canary.steps).toEqual([
      { setWeight: 10 },
      { pause: { duration: '5m' } },
      analysis,
      { setWeight: 50 },
      { pause: { duration: '5m' } },
      analysis,
    ]);
    expect(canary).toMatchObject({ maxUnavailable: 0, stableService: 'event-service-stable', canaryService: 'event-service-canary' });
    expect(find(stack, 'Rollout', 'event-service').spec).toMatchObject({ progressDeadlineAbort: true });
  });

  test('when rendered, then the stable and canary Services select the service pods on its http port, and the Ingress keeps the Service of all pods', () => {
    const main = find(stack, 'Service', 'event-service').spec;
    for (const name of ['event-service-stable', 'event-service-canary'])
      expect(find(stack, 'Service', name).spec).toEqual({ selector: main.selector, ports: main.ports });
    expect(find(stack, 'Ingress', 'event-service').spec.rules[0].http.paths[0].backend.service.name).toBe('event-service');
  });

  test("when rendered, then the analysis asks the stage's own Prometheus, with the stage's promotion limits", () => {
    const metrics = find(stack, 'AnalysisTemplate', 'event-service-canary').spec.metrics;
    const namespace = runs.get(stack)!.file.config.namespace;
    for (const m of metrics) expect(m.provider.prometheus.address).toBe(`http://prometheus.${namespace}.svc.cluster.local:9090`);
    const promotion = runs.get(stack)!.file.config.promotion!;
    expect(metrics.find((m: { name: string }) => m.name === 'availability-error-ratio').failureCondition).toBe(
      `len(result) > 0 && result[0] > ${promotion.maxErrorRatio}`,
    );
  });

  test("when rendered, then the canary needs the stage's promotion.minRequests of traffic before it can pass, as the gate does", () => {
    const metrics = find(stack, 'AnalysisTemplate', 'event-service-canary').spec.metrics;
    const { minRequests } = runs.get(stack)!.file.config.promotion!;
    expect(minRequests).not.toBe(DEFAULT_PROMOTION.minRequests);
    expect(metrics.find((m: { name: string }) => m.name === 'api-requests').successCondition).toBe(
      `len(result) > 0 && result[0] >= ${minRequests}`,
    );
  });
});

test('when a Rollout breaks the Argo Rollouts schema, then the validator names it and the field', () => {
  const rollout = structuredClone(find('prod', 'Rollout', 'event-service'));
  rollout.spec.strategy.canary.steps[0].setWeight = 'ten';
  const template = structuredClone(find('prod', 'AnalysisTemplate', 'event-service-canary'));
  delete template.spec.metrics[0].name;
  expect(schemaProblems([rollout, template])).toEqual([
    expect.stringMatching(/^Rollout event-service: .*setWeight/),
    expect.stringMatching(/^AnalysisTemplate event-service-canary: .*name/),
  ]);
});

test("when staging is monitored by the cluster's Prometheus Operator, then the analysis asks the operator's Prometheus and no controller policy is declared", async () => {
  const r = await run('staging', {
    set: { 'event-stack:monitoring': JSON.stringify({ mode: 'operator', namespace: 'monitoring', matchLabels: { release: 'kps' } }) },
    remove: ['event-stack:prometheus', 'event-stack:alertmanager', 'event-stack:grafana'],
  });
  const template = r.kubernetesObjects.find((o) => o.kind === 'AnalysisTemplate') as Obj;
  for (const m of template.spec.metrics)
    expect(m.provider.prometheus.address).toBe('http://prometheus-operated.monitoring.svc.cluster.local:9090');
  expect(r.kubernetesObjects.map((o) => o.metadata.name)).not.toContain('prometheus-from-rollouts-controller');
});

/**
 * The same monitoring, for clusters that already run the Prometheus Operator (kube-prometheus-stack): the
 * specs of its custom resources, rendered from the same sources as the bundled configuration, so that
 * operator mode and bundled mode alert, route and scrape alike. Pure functions; the Pulumi program wraps them.
 */
import fs from 'node:fs';
import YAML from 'yaml';
import path from 'node:path';
import { ALERTMANAGER_TEMPLATE } from './contract';
import { kubernetesRuleFile } from './kubernetes-rules';
import { ruleFilePaths } from './render';
import { renderRuleFile } from './rules';

/**
 * spec of a PrometheusRule: every group of every alerts/rules file in file order, unchanged, except that with
 * `namespace` the Kubernetes rules (kubernetes.yml) are rendered scoped to it: the operator's kube-state-metrics
 * and kubelet scrapes cover every namespace of the cluster.
 */
export function prometheusRuleSpec(files = ruleFilePaths(), namespace?: string): { groups: unknown[] } {
  const text = (f: string) =>
    namespace && path.basename(f) === `${kubernetesRuleFile().name}.yml`
      ? renderRuleFile(kubernetesRuleFile(namespace))
      : fs.readFileSync(f, 'utf8');
  // An array literal: one derived from fs.readdirSync's array comes from Node's own realm under jest, and
  // Pulumi's serializer (instanceof Array) would turn it into an object with numeric keys.
  return { groups: [...files.flatMap((f) => (YAML.parse(text(f)) as { groups: unknown[] }).groups)] };
}

interface Matcher {
  name: string;
  value: string;
  matchType: '=' | '!=' | '=~' | '!~';
}

/** 'severity="critical"' → { name: 'severity', matchType: '=', value: 'critical' } (Alertmanager's matcher syntax). */
export function parseMatcher(text: string): Matcher {
  const m = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*$/.exec(text);
  if (!m) throw new Error(`not an Alertmanager matcher of the form name="value": ${JSON.stringify(text)}`);
  return { name: m[1]!, matchType: m[2] as Matcher['matchType'], value: m[3]!.replace(/\\(.)/g, '$1') };
}

interface TemplateRoute {
  receiver?: string;
  group_by?: string[];
  group_wait?: string;
  group_interval?: string;
  repeat_interval?: string;
  matchers?: string[];
  continue?: boolean;
  routes?: TemplateRoute[];
}
interface Template {
  route: TemplateRoute;
  inhibit_rules?: Array<{ source_matchers: string[]; target_matchers: string[]; equal?: string[] }>;
  receivers: Array<{ name: string; webhook_configs?: Array<{ url: string; send_resolved?: boolean }> }>;
}

function route(r: TemplateRoute): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (r.receiver) out.receiver = r.receiver;
  if (r.group_by) out.groupBy = r.group_by;
  if (r.group_wait) out.groupWait = r.group_wait;
  if (r.group_interval) out.groupInterval = r.group_interval;
  if (r.repeat_interval) out.repeatInterval = r.repeat_interval;
  if (r.matchers) out.matchers = r.matchers.map(parseMatcher);
  if (r.continue !== undefined) out.continue = r.continue;
  if (r.routes) out.routes = r.routes.map(route);
  return out;
}

/**
 * spec of an AlertmanagerConfig (monitoring.coreos.com/v1alpha1) from alerts/alertmanager.yml: the same route
 * tree, inhibitions and receivers. Each webhook URL is read from key <receiver name> of `urlSecret`, the
 * Secret the program fills from the alertReceivers stack secret (the template's placeholders stay unused).
 */
export function alertmanagerConfigSpec(urlSecret: string, template = fs.readFileSync(ALERTMANAGER_TEMPLATE, 'utf8')) {
  const t = YAML.parse(template) as Template;
  return {
    route: route(t.route),
    inhibitRules: (t.inhibit_rules ?? []).map((i) => ({
      sourceMatch: i.source_matchers.map(parseMatcher),
      targetMatch: i.target_matchers.map(parseMatcher),
      ...(i.equal ? { equal: i.equal } : {}),
    })),
    receivers: t.receivers.map((r) => ({
      name: r.name,
      webhookConfigs: (r.webhook_configs ?? []).map((w) => ({
        urlSecret: { name: urlSecret, key: r.name },
        sendResolved: w.send_resolved ?? true,
      })),
    })),
  };
}

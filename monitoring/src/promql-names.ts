/**
 * The metrics a PromQL expression reads, found by Prometheus's own PromQL grammar (@prometheus-io/lezer-promql),
 * so that the tests can hold every rule, panel and gate query to what the programs really export. Not exported
 * from the package index: only tests need it (and its parser).
 */
import type { parser as Parser } from '@prometheus-io/lezer-promql' with { 'resolution-mode': 'import' };

// The package ships CommonJS beside its ES module, but its one type declaration is an ES module's.
const { parser } = require('@prometheus-io/lezer-promql') as { parser: typeof Parser };

export interface MetricReference {
  /** The metric name (from the selector, or from each alternative of a `__name__` matcher). */
  name: string;
  /** The job the selector names with `job="…"`, if it names exactly one. */
  job?: string;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

function unquote(literal: string): string {
  if (literal.startsWith('"')) return JSON.parse(literal) as string;
  return literal.slice(1, -1); // '…' and `…` (raw)
}

/** Every vector selector's metric name and job in `expr`; throws on a syntax error or an unreadable `__name__` regex. */
export function metricReferences(expr: string): MetricReference[] {
  const tree = parser.parse(expr);
  const refs: MetricReference[] = [];
  const text = (n: { from: number; to: number }) => expr.slice(n.from, n.to);
  tree.iterate({
    enter(node) {
      if (node.type.isError) throw new Error(`PromQL syntax error at ${node.from}: ${expr.slice(node.from, node.from + 40)} (in ${expr})`);
      if (node.name !== 'VectorSelector') return;
      const names: string[] = [];
      let job: string | undefined;
      const identifier = node.node.getChild('Identifier');
      if (identifier) names.push(text(identifier));
      const matchers = node.node.getChild('LabelMatchers');
      for (const m of matchers?.getChildren('UnquotedLabelMatcher') ?? []) {
        const label = text(m.getChild('LabelName')!);
        const op = text(m.getChild('MatchOp')!);
        const value = unquote(text(m.getChild('StringLiteral')!));
        if (label === 'job' && op === '=') job = value;
        if (label !== '__name__') continue;
        const alternatives = op === '=' ? [value] : op === '=~' ? value.split('|') : [];
        if (!alternatives.length || !alternatives.every((a) => METRIC_NAME.test(a)))
          throw new Error(`cannot tell which metrics ${text(m)} selects (in ${expr})`);
        names.push(...alternatives);
      }
      if (!names.length) throw new Error(`a selector without a metric name: ${text(node)} (in ${expr})`);
      refs.push(...names.map((name) => (job === undefined ? { name } : { name, job })));
    },
  });
  return refs;
}

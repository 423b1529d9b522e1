/**
 * Byte-preserving edits of YAML files: only the source text of the changed scalars is replaced (located
 * through the yaml Document API), so comments, quoting, indentation and key order stay as they were.
 */
import { Scalar } from 'yaml';

export interface ScalarEdit {
  node: Scalar;
  value: string;
}

/** Renders `value` in the quoting style the scalar already had. */
export function renderScalar(node: Scalar, value: string): string {
  switch (node.type) {
    case Scalar.QUOTE_DOUBLE:
      return JSON.stringify(value);
    case Scalar.QUOTE_SINGLE:
      return `'${value.replace(/'/g, "''")}'`;
    default:
      return value;
  }
}

/** `source` with each edited scalar's text replaced; every node must come from a parse of `source`. */
export function applyScalarEdits(source: string, edits: ScalarEdit[]): string {
  const spans = edits.map((e) => {
    if (!e.node.range) throw new Error('a scalar to edit has no source range');
    return { start: e.node.range[0], end: e.node.range[1], text: renderScalar(e.node, e.value) };
  });
  spans.sort((a, b) => b.start - a.start);
  let text = source;
  for (const s of spans) text = text.slice(0, s.start) + s.text + text.slice(s.end);
  return text;
}

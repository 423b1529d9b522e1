/** Command-line lists the benchmarks share: `name=value,name=value`, and `NAME:name=value,…` for a named variant. */

/** The pairs of `name=value,name=value` (empty: none); `flag` names the option in the error. */
export function parsePairs(list: string, flag: string): Array<[string, string]> {
  return list
    .split(',')
    .filter(Boolean)
    .map((kv) => {
      const [k, v] = kv.split(/=(.*)/s);
      if (!k?.trim() || v === undefined) throw new Error(`${flag} ${list}: expected name=value,name=value (got ${JSON.stringify(kv)})`);
      return [k.trim(), v.trim()];
    });
}

/** `NAME:name=value,…`: a variant's name and its pairs. */
export function parseVariant(spec: string, flag: string): { name: string; pairs: Array<[string, string]> } {
  const [name, list = ''] = spec.split(/:(.*)/s);
  if (!name) throw new Error(`${flag} ${spec}: expected NAME:name=value,name=value (the variant needs a name)`);
  return { name, pairs: parsePairs(list, `${flag} ${name}:`) };
}

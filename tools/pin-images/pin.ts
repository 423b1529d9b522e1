/**
 * `make pin-images`: every third-party image of a stack file (`image:` under any `event-stack:*` key,
 * e.g. `event-stack:postgres.image`) that names a tag gets the digest the tag resolves to now, written
 * as `tag@sha256:…` so the file still says which version it is. Everything is resolved before any file is
 * written: one tag that does not resolve changes no file at all.
 */
import fs from 'node:fs';
import path from 'node:path';
import { isMap, isScalar, isSeq, type Node, Scalar } from 'yaml';
import { parseStackFile, StackSettingsError, type ParsedStackFile } from '../../infra/stack-schema';
import { applyScalarEdits } from '../promote/yaml-edit';
import { parseImageRef, resolveTag, ResolveError, type Resolved } from './registry';

export interface ImageSite {
  /** Where in the file, e.g. `event-stack:postgres.image`. */
  key: string;
  node: Scalar;
  image: string;
}

/**
 * Every `image:` string under the stack file's `config:`; the app's own `event-stack:image` ({ref, version}) is not one.
 * The file is parsed, not decoded: pinning must also reach files the schema would still refuse.
 */
export function imageSites({ document }: ParsedStackFile): ImageSite[] {
  const config = document.get('config', true);
  const sites: ImageSite[] = [];
  const walk = (node: unknown, key: string) => {
    if (isMap(node)) {
      for (const pair of node.items) {
        const name = isScalar(pair.key) ? String(pair.key.value) : '?';
        const child = pair.value as Node | null;
        const childKey = key ? `${key}.${name}` : name;
        if (name === 'image' && key && isScalar(child) && typeof child.value === 'string')
          sites.push({ key: childKey, node: child, image: child.value });
        else walk(child, childKey);
      }
    } else if (isSeq(node)) node.items.forEach((item, i) => walk(item, `${key}[${i}]`));
  };
  walk(config, '');
  return sites;
}

/** The file parsed; bad input (no file changed) when it is not YAML. */
function parsedStackFile(file: string): ParsedStackFile {
  try {
    return parseStackFile(path.basename(file), fs.readFileSync(file, 'utf8'));
  } catch (err) {
    if (err instanceof StackSettingsError) throw new ResolveError(err.message);
    throw err;
  }
}

export interface PinOutcome {
  file: string;
  pinned: Array<{ key: string; from: string; to: string; resolved: Resolved }>;
  alreadyPinned: string[];
  /** The new text (undefined when nothing changes). */
  text?: string;
}

/** Resolves every tag-only image of the files; throws ResolveError listing every failure, touching no file. */
export async function planPins(files: string[], resolve = resolveTag): Promise<PinOutcome[]> {
  const problems: string[] = [];
  const outcomes: PinOutcome[] = [];
  for (const file of files) {
    const parsed = parsedStackFile(file);
    const outcome: PinOutcome = { file, pinned: [], alreadyPinned: [] };
    const edits = [];
    for (const site of imageSites(parsed)) {
      const where = `${path.basename(file)} ${site.key}`;
      try {
        const ref = parseImageRef(site.image);
        if (ref.digest) {
          outcome.alreadyPinned.push(`${site.key}: ${site.image}`);
          continue;
        }
        if (!ref.tag) throw new ResolveError(`"${site.image}" has no tag: name the version to pin (e.g. ${site.image}:1.2.3)`);
        const resolved = await resolve(ref);
        const to = `${site.image}@${resolved.digest}`;
        outcome.pinned.push({ key: site.key, from: site.image, to, resolved });
        edits.push({ node: site.node, value: to });
      } catch (err) {
        if (!(err instanceof ResolveError)) throw err;
        problems.push(`${where}: ${err.message}`);
      }
    }
    if (edits.length) outcome.text = applyScalarEdits(parsed.source, edits);
    outcomes.push(outcome);
  }
  if (problems.length) throw new ResolveError(`nothing was changed; resolve these first:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  return outcomes;
}

export function writePins(outcomes: PinOutcome[]): void {
  for (const o of outcomes) {
    if (o.text === undefined) continue;
    const tmp = path.join(path.dirname(o.file), `.${path.basename(o.file)}.${process.pid}.tmp`);
    fs.writeFileSync(tmp, o.text);
    fs.renameSync(tmp, o.file);
  }
}

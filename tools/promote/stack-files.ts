/**
 * Reading and editing `Pulumi.<stage>.yaml`. Edits replace only the source text of the changed
 * scalars (located through the yaml Document API), so every other byte — comments, quoting,
 * indentation, key order — stays as it was.
 */
import fs from 'node:fs';
import path from 'node:path';
import { isScalar, parseDocument, Scalar } from 'yaml';
import {
  DEFAULT_PROMOTION,
  isDigestRef,
  parseStackSettings,
  PROJECT,
  pulumiConfigOfStackFile,
  StackSettingsError,
  type StackSettings,
} from '../../infra/stack-schema';
import { PromoteError } from './errors';
import { Stage } from './stages';

export { isDigestRef, PROJECT };
export const IMAGE_KEY = `${PROJECT}:image`;

/** An image as it runs in a stage: the digest-pinned reference and the version it was built from. */
export interface Image {
  ref: string;
  version: string;
}

/** Thresholds for promoting OUT of a stage. */
export type GateThresholds = typeof DEFAULT_PROMOTION;
export const DEFAULT_THRESHOLDS: GateThresholds = DEFAULT_PROMOTION;

export interface StackFile {
  stage: Stage;
  file: string;
  source: string;
  /** What the file pins, if anything (dev pins nothing: it builds). */
  image?: Image;
  thresholds: GateThresholds;
  /** True when the file has no `event-stack:promotion` and the defaults apply. */
  defaultThresholds: boolean;
  prometheusUrl: string;
}

export function digestOf(ref: string): string {
  return ref.slice(ref.indexOf('@') + 1);
}

export function stackFilePath(root: string, stage: Stage): string {
  return path.join(root, `Pulumi.${stage}.yaml`);
}

function parse(file: string, source: string) {
  const doc = parseDocument(source);
  if (doc.errors.length) throw new PromoteError(`${file}: not valid YAML: ${doc.errors[0]?.message}`);
  return doc;
}

/** The settings of a stack file's text, checked by the schema the Pulumi program uses: bad input when it refuses them. */
function settingsOf(name: string, source: string): StackSettings {
  parse(name, source);
  try {
    return parseStackSettings(pulumiConfigOfStackFile(source), name);
  } catch (err) {
    if (err instanceof StackSettingsError) throw new PromoteError(err.message);
    throw err;
  }
}

export function readStackFile(root: string, stage: Stage): StackFile {
  const file = stackFilePath(root, stage);
  let source: string;
  try {
    source = fs.readFileSync(file, 'utf8');
  } catch {
    throw new PromoteError(`${path.basename(file)} not found in ${root}: every stage needs its stack file`);
  }
  const settings = settingsOf(path.basename(file), source);
  return {
    stage,
    file,
    source,
    image: settings.image,
    thresholds: settings.promotion ?? DEFAULT_THRESHOLDS,
    defaultThresholds: settings.promotion === undefined,
    prometheusUrl: settings.prometheusUrl,
  };
}

/** The image a qa/staging/prod file pins; bad input when it builds instead. */
export function pinnedImage(stack: StackFile): Image {
  if (!stack.image) {
    throw new PromoteError(
      `${path.basename(stack.file)} pins no image: expected ${IMAGE_KEY}: {ref: "<repository>@sha256:<64 hex>", version: "x.y.z"}`,
    );
  }
  return stack.image;
}

/** Renders `value` in the quoting style the scalar already had. */
function renderScalar(node: Scalar, value: string): string {
  switch (node.type) {
    case Scalar.QUOTE_DOUBLE:
      return JSON.stringify(value);
    case Scalar.QUOTE_SINGLE:
      return `'${value.replace(/'/g, "''")}'`;
    default:
      return value;
  }
}

/**
 * The stack file's text with `event-stack:image.ref` and `.version` replaced. Both keys must exist
 * (the file pins an image already); the result is re-read through the stack schema.
 */
export function withPinnedImage(stack: StackFile, image: Image): string {
  const name = path.basename(stack.file);
  const doc = parse(name, stack.source);
  const edits: { start: number; end: number; text: string }[] = [];
  for (const key of ['ref', 'version'] as const) {
    const node = doc.getIn(['config', IMAGE_KEY, key], true);
    if (!isScalar(node) || !node.range) throw new PromoteError(`${name} has no ${IMAGE_KEY}.${key} to replace`);
    edits.push({ start: node.range[0], end: node.range[1], text: renderScalar(node, image[key]) });
  }
  edits.sort((a, b) => b.start - a.start);
  let text = stack.source;
  for (const e of edits) text = text.slice(0, e.start) + e.text + text.slice(e.end);
  // The edited file must still be one the Pulumi program accepts, and say what was meant.
  const check = settingsOf(name, text).image;
  if (check?.ref !== image.ref || check?.version !== image.version) {
    throw new PromoteError(`${name}: editing ${IMAGE_KEY} in place would not yield ${JSON.stringify(image)}; edit it by hand`);
  }
  return text;
}

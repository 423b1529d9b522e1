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
  NEVER_PROMOTED,
  parseStackSettings,
  PROJECT,
  pulumiConfigOfStackFile,
  StackSettingsError,
  type StackSettings,
} from '../../infra/stack-schema';
import { PromoteError } from './errors';
import { applyScalarEdits, type ScalarEdit } from './yaml-edit';
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
  /** The file says `event-stack:image: never-promoted`: no image has ever been pinned here. */
  neverPromoted: boolean;
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
    image: typeof settings.image === 'object' ? settings.image : undefined,
    neverPromoted: settings.image === NEVER_PROMOTED,
    thresholds: settings.promotion ?? DEFAULT_THRESHOLDS,
    defaultThresholds: settings.promotion === undefined,
    prometheusUrl: settings.prometheusUrl,
  };
}

/** Why a stage has no image: it was never promoted (`make status` shows it, `make up` refuses it). */
export class NeverPromotedError extends PromoteError {
  constructor(readonly stage: string) {
    super(
      `stack ${stage} was never promoted, so it has no image to deploy. Promote a version first: make promote VERSION=x.y.z TO=${stage}`,
    );
  }
}

/** The image a qa/staging/prod file pins; bad input when it builds instead, NeverPromotedError before its first promotion. */
export function pinnedImage(stack: StackFile): Image {
  if (stack.neverPromoted) throw new NeverPromotedError(stack.stage);
  if (!stack.image) {
    throw new PromoteError(
      `${path.basename(stack.file)} pins no image: expected ${IMAGE_KEY}: {ref: "<repository>@sha256:<64 hex>", version: "x.y.z"}`,
    );
  }
  return stack.image;
}

/**
 * The stack file's text with `event-stack:image.ref` and `.version` replaced, or — on the first
 * promotion — `never-promoted` replaced in place by a `{ref, version}` flow map. The result is re-read
 * through the stack schema.
 */
export function withPinnedImage(stack: StackFile, image: Image): string {
  const name = path.basename(stack.file);
  const doc = parse(name, stack.source);
  const edits: ScalarEdit[] = [];
  const whole = doc.getIn(['config', IMAGE_KEY], true);
  if (stack.neverPromoted && isScalar(whole)) {
    // Rendered as a plain scalar, the flow map's text replaces `never-promoted` (quoted or not).
    whole.type = Scalar.PLAIN;
    edits.push({ node: whole, value: `{ ref: ${JSON.stringify(image.ref)}, version: ${JSON.stringify(image.version)} }` });
  } else
    for (const key of ['ref', 'version'] as const) {
      const node = doc.getIn(['config', IMAGE_KEY, key], true);
      if (!isScalar(node) || !node.range) throw new PromoteError(`${name} has no ${IMAGE_KEY}.${key} to replace`);
      edits.push({ node, value: image[key] });
    }
  const text = applyScalarEdits(stack.source, edits);
  // The edited file must still be one the Pulumi program accepts, and say what was meant.
  const check = settingsOf(name, text).image;
  if (typeof check !== 'object' || check.ref !== image.ref || check.version !== image.version) {
    throw new PromoteError(`${name}: editing ${IMAGE_KEY} in place would not yield ${JSON.stringify(image)}; edit it by hand`);
  }
  return text;
}

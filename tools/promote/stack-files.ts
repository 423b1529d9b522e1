/**
 * Reading and editing `Pulumi.<stage>.yaml`. Edits replace only the source text of the changed
 * scalars (located through the yaml Document API), so every other byte — comments, quoting,
 * indentation, key order — stays as it was.
 */
import fs from 'node:fs';
import path from 'node:path';
import { isScalar, Scalar } from 'yaml';
import {
  decodeStackFile,
  DEFAULT_PROMOTION,
  isDigestRef,
  loadStackFile,
  parseStackFile,
  PROJECT,
  prometheusStageOf,
  StackSettingsError,
  type ParsedStackFile,
  type StackFileConfig,
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
  /** The file's path. */
  file: string;
  /** Its text and YAML document, parsed once. */
  parsed: ParsedStackFile;
  /** What the file pins, if anything (dev pins nothing: it builds). */
  image?: Image;
  /** The file says `event-stack:image: never-promoted`: no image has ever been pinned here. */
  neverPromoted: boolean;
  thresholds: GateThresholds;
  /** True when the file has no `event-stack:promotion` and the defaults apply. */
  defaultThresholds: boolean;
  prometheusUrl: string;
  /** The identity label (`stage`) its Prometheus must report. */
  prometheusStage: string;
  /** Where the stage runs: kube context (absent: the current one) and namespace. */
  kubeContext?: string;
  namespace: string;
}

export function digestOf(ref: string): string {
  return ref.slice(ref.indexOf('@') + 1);
}

export function stackFilePath(root: string, stage: Stage): string {
  return path.join(root, `Pulumi.${stage}.yaml`);
}

/** The schema's verdict as promotion's bad input. */
function checked<T>(read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (err instanceof StackSettingsError) throw new PromoteError(err.message);
    throw err;
  }
}

function pinnedOf(config: StackFileConfig): Image | undefined {
  return config.image.kind === 'pinned' ? { ref: config.image.ref, version: config.image.version } : undefined;
}

/** A stage's stack file, read through the schema the Pulumi program uses: bad input when it refuses it. */
export function readStackFile(root: string, stage: Stage): StackFile {
  const file = stackFilePath(root, stage);
  if (!fs.existsSync(file)) throw new PromoteError(`${path.basename(file)} not found in ${root}: every stage needs its stack file`);
  const { config, ...parsed } = checked(() => loadStackFile(file));
  return {
    stage,
    file,
    parsed,
    image: pinnedOf(config),
    neverPromoted: config.image.kind === 'never-promoted',
    thresholds: config.promotion ?? DEFAULT_THRESHOLDS,
    defaultThresholds: config.promotion === undefined,
    prometheusUrl: config.prometheusUrl,
    prometheusStage: prometheusStageOf(config, stage),
    kubeContext: config.kubeContext,
    namespace: config.namespace,
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
  const { file: name, document: doc, source } = stack.parsed;
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
  const text = applyScalarEdits(source, edits);
  // The edited file must still be one the Pulumi program accepts, and say what was meant.
  const check = pinnedOf(checked(() => decodeStackFile(parseStackFile(name, text).values, name)));
  if (check?.ref !== image.ref || check.version !== image.version) {
    throw new PromoteError(`${name}: editing ${IMAGE_KEY} in place would not yield ${JSON.stringify(image)}; edit it by hand`);
  }
  return text;
}

/**
 * Reading and editing `Pulumi.<stage>.yaml`. Edits replace only the source text of the changed
 * scalars (located through the yaml Document API), so every other byte — comments, quoting,
 * indentation, key order — stays as it was.
 */
import fs from 'node:fs';
import path from 'node:path';
import { isScalar, parseDocument, Scalar } from 'yaml';
import { applyScalarEdits, type ScalarEdit } from './yaml-edit';
import { PromoteError } from './errors';
import { isSemVer } from './semver';
import { NEVER_PROMOTED, Stage } from './stages';

export const PROJECT = 'event-stack';
export const IMAGE_KEY = `${PROJECT}:image`;
export const PROMOTION_KEY = `${PROJECT}:promotion`;
export const PROMETHEUS_URL_KEY = `${PROJECT}:prometheusUrl`;

/** An image as it runs in a stage: the digest-pinned reference and the version it was built from. */
export interface Image {
  ref: string;
  version: string;
}

/** Thresholds for promoting OUT of a stage. */
export interface GateThresholds {
  soakMinutes: number;
  maxErrorRatio: number;
  maxBurnRate: number;
}

export const DEFAULT_THRESHOLDS: GateThresholds = { soakMinutes: 30, maxErrorRatio: 0.001, maxBurnRate: 1 };

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
  prometheusUrl?: string;
}

const DIGEST_REF = /^[a-z0-9][a-z0-9._\-/:]*@sha256:[0-9a-f]{64}$/;

export function isDigestRef(ref: string): boolean {
  return DIGEST_REF.test(ref);
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

function positiveNumber(file: string, key: string, value: unknown): number {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) {
    throw new PromoteError(`${file}: ${PROMOTION_KEY}.${key} must be a non-negative number, got ${JSON.stringify(value)}`);
  }
  return n;
}

export function readStackFile(root: string, stage: Stage): StackFile {
  const file = stackFilePath(root, stage);
  let source: string;
  try {
    source = fs.readFileSync(file, 'utf8');
  } catch {
    throw new PromoteError(`${path.basename(file)} not found in ${root}: every stage needs its stack file`);
  }
  const name = path.basename(file);
  const config = (parse(name, source).toJS()?.config ?? {}) as Record<string, unknown>;
  const image = config[IMAGE_KEY];
  const promotion = config[PROMOTION_KEY] as Record<string, unknown> | undefined;
  const url = config[PROMETHEUS_URL_KEY];
  const result: StackFile = {
    stage,
    file,
    source,
    thresholds: DEFAULT_THRESHOLDS,
    defaultThresholds: promotion === undefined,
    neverPromoted: image === NEVER_PROMOTED,
  };
  if (image && typeof image === 'object') {
    const { ref, version } = image as Record<string, unknown>;
    if (typeof ref === 'string' && typeof version === 'string') result.image = { ref, version };
  }
  if (promotion !== undefined) {
    if (typeof promotion !== 'object' || promotion === null) throw new PromoteError(`${name}: ${PROMOTION_KEY} must be a map`);
    result.thresholds = {
      soakMinutes: positiveNumber(name, 'soakMinutes', promotion.soakMinutes ?? DEFAULT_THRESHOLDS.soakMinutes),
      maxErrorRatio: positiveNumber(name, 'maxErrorRatio', promotion.maxErrorRatio ?? DEFAULT_THRESHOLDS.maxErrorRatio),
      maxBurnRate: positiveNumber(name, 'maxBurnRate', promotion.maxBurnRate ?? DEFAULT_THRESHOLDS.maxBurnRate),
    };
  }
  if (typeof url === 'string' && url !== '') result.prometheusUrl = url;
  return result;
}

/** The image a qa/staging/prod file pins; bad input when it pins no digest or no valid version. */
export function pinnedImage(stack: StackFile): Image {
  const name = path.basename(stack.file);
  const example = `${IMAGE_KEY}: {ref: "<repository>@sha256:<64 hex>", version: "x.y.z"}`;
  if (stack.neverPromoted) throw new NeverPromotedError(stack.stage);
  if (!stack.image) throw new PromoteError(`${name} has no pinned image: expected ${example} (or ${IMAGE_KEY}: ${NEVER_PROMOTED})`);
  if (!isDigestRef(stack.image.ref)) {
    throw new PromoteError(`${name} pins no digest: ${IMAGE_KEY}.ref is "${stack.image.ref}", expected ${example}`);
  }
  if (!isSemVer(stack.image.version)) {
    throw new PromoteError(`${name}: ${IMAGE_KEY}.version "${stack.image.version}" is not a semantic version (x.y.z)`);
  }
  return stack.image;
}

/** Why a stage has no image: it was never promoted (`make status` shows it, `make up` refuses it). */
export class NeverPromotedError extends PromoteError {
  constructor(readonly stage: string) {
    super(
      `stack ${stage} was never promoted, so it has no image to deploy. Promote a version first: make promote VERSION=x.y.z TO=${stage}`,
    );
  }
}

/**
 * The stack file's text with `event-stack:image.ref` and `.version` replaced, or — on the first
 * promotion — `never-promoted` replaced by a `{ref, version}` flow map. The result is re-read to prove
 * it says what was meant.
 */
export function withPinnedImage(stack: StackFile, image: Image): string {
  const name = path.basename(stack.file);
  const doc = parse(name, stack.source);
  const edits: ScalarEdit[] = [];
  const whole = doc.getIn(['config', IMAGE_KEY], true);
  if (stack.neverPromoted && isScalar(whole)) {
    // Rendered as a plain scalar, the flow map's text replaces `never-promoted` (quoted or not) in place.
    whole.type = Scalar.PLAIN;
    edits.push({ node: whole, value: `{ ref: ${JSON.stringify(image.ref)}, version: ${JSON.stringify(image.version)} }` });
  } else
    for (const key of ['ref', 'version'] as const) {
      const node = doc.getIn(['config', IMAGE_KEY, key], true);
      if (!isScalar(node) || !node.range) throw new PromoteError(`${name} has no ${IMAGE_KEY}.${key} to replace`);
      edits.push({ node, value: image[key] });
    }
  const text = applyScalarEdits(stack.source, edits);
  const check = parse(name, text).toJS()?.config?.[IMAGE_KEY] as Record<string, unknown> | undefined;
  if (check?.ref !== image.ref || check?.version !== image.version) {
    throw new PromoteError(`${name}: editing ${IMAGE_KEY} in place would not yield ${JSON.stringify(image)}; edit it by hand`);
  }
  return text;
}

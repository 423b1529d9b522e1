/** The environments a build travels through, in order. Each is a Pulumi stack named after it. */
import { PromoteError } from './errors';

export const STAGES = ['dev', 'qa', 'staging', 'prod'] as const;
export type Stage = (typeof STAGES)[number];

export function isStage(name: string): name is Stage {
  return (STAGES as readonly string[]).includes(name);
}

export function parseStage(name: string, what = 'stage'): Stage {
  if (!isStage(name)) throw new PromoteError(`unknown ${what} "${name}": expected one of ${STAGES.join(', ')}`);
  return name;
}

export function stageIndex(stage: Stage): number {
  return STAGES.indexOf(stage);
}

export function nextStage(stage: Stage): Stage | undefined {
  return STAGES[stageIndex(stage) + 1];
}

export function previousStage(stage: Stage): Stage | undefined {
  const i = stageIndex(stage);
  return i > 0 ? STAGES[i - 1] : undefined;
}

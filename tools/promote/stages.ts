/** The stages a build travels through (infra/stages.ts), and their order as promotion needs it. */
import { isStage, STAGES, type Stage } from '../../infra/stages';
import { PromoteError } from './errors';

export { isStage, STAGES, type Stage };

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

/**
 * `make stages`: the stages in promotion order, one line, space-separated (for make and the workflows);
 * `stages.ts before <stage>`: the stage a promotion into <stage> comes from.
 */
import { isStage, STAGES } from '../stages';

function main(args: string[]): number {
  if (args.length === 0) {
    console.log(STAGES.join(' '));
    return 0;
  }
  const [command, stage = ''] = args;
  const before = isStage(stage) ? STAGES[STAGES.indexOf(stage) - 1] : undefined;
  if (command !== 'before' || !before) {
    console.error(`stages: usage: stages.ts [before <one of ${STAGES.slice(1).join(', ')}>] (got ${args.join(' ')})`);
    return 2;
  }
  console.log(before);
  return 0;
}

process.exitCode = main(process.argv.slice(2));

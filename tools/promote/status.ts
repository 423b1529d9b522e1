/** `make status`: which version and digest each stage runs, from the stack files, dev's outputs and the ledger. */
import { resolveDevImage } from './dev-image';
import { LedgerRecord, readLedger } from './ledger';
import { PulumiCli } from './pulumi-cli';
import { Image, NeverPromotedError, pinnedImage, readStackFile } from './stack-files';
import { STAGES, Stage } from './stages';

export interface StageStatus {
  stage: Stage;
  image?: Image;
  /** Why the image is unknown, when it is. */
  problem?: string;
  neverPromoted: boolean;
  lastPromotion?: LedgerRecord;
  /** The stack file pins something other than the ledger's last promotion to this stage. */
  differsFromLedger: boolean;
}

export function stageStatuses(root: string, env: NodeJS.ProcessEnv = process.env): StageStatus[] {
  const ledger = readLedger(root);
  const pulumi = new PulumiCli(root, env);
  return STAGES.map((stage) => {
    const status: StageStatus = { stage, differsFromLedger: false, neverPromoted: false };
    try {
      status.image = stage === 'dev' ? resolveDevImage(pulumi, env) : pinnedImage(readStackFile(root, stage));
    } catch (err) {
      if (err instanceof NeverPromotedError) status.neverPromoted = true;
      else status.problem = (err as Error).message;
    }
    status.lastPromotion = ledger.filter((r) => r.to === stage).pop();
    if (status.image && status.lastPromotion) status.differsFromLedger = status.lastPromotion.ref !== status.image.ref;
    return status;
  });
}

export function formatStatus(statuses: StageStatus[]): string {
  const rows = statuses.map((s) => {
    const p = s.lastPromotion;
    const last = p
      ? `${p.time} from ${p.from} by ${p.user}${p.forced.length ? ' (FORCED)' : ''}`
      : s.stage === 'dev'
        ? '(builds)'
        : '(none in ledger)';
    if (s.neverPromoted) return [s.stage, '-', '-', 'never promoted'];
    return [s.stage, s.image?.version ?? '?', s.image ? s.image.ref.slice(s.image.ref.indexOf('@') + 1) : '?', last];
  });
  const header = ['stage', 'version', 'digest', 'last promotion'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  const notes = statuses.flatMap((s) => {
    const out: string[] = [];
    if (s.image) out.push(`${s.stage}: ${s.image.ref}`);
    if (s.problem) out.push(`${s.stage}: unknown: ${s.problem}`);
    if (s.neverPromoted) out.push(`${s.stage}: never promoted: make promote VERSION=x.y.z TO=${s.stage} pins its first image`);
    if (s.differsFromLedger && s.lastPromotion) {
      out.push(
        `${s.stage}: WARNING the stack file differs from the ledger's last promotion (${s.lastPromotion.version} ${s.lastPromotion.ref}): edited by hand?`,
      );
    }
    return out;
  });
  return [line(header), ...rows.map(line), '', ...notes].join('\n');
}

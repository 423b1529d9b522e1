/**
 * `make status`: for each stage, what its stack file pins, what the ledger last recorded there, and, where the
 * stage's own Prometheus answers, which versions are running (`app_build_info`), with every disagreement
 * flagged. One line per stage within 100 columns; `-v` adds the digests.
 */
import { APP_JOB, SERVICE_METRICS } from '../../monitoring/src';
import { resolveDevImage } from './dev-image';
import { getJson, identityProblem } from './gate';
import { actionOf, badVersions, deploysOf, LedgerRecord, readLedger } from './ledger';
import { PulumiCli } from './pulumi-cli';
import { Image, NeverPromotedError, pinnedImage, readStackFile } from './stack-files';
import { STAGES, Stage } from './stages';

export interface StageStatus {
  stage: Stage;
  /** What the stack file pins (dev: what its outputs say it built). */
  image?: Image;
  /** Why the image is unknown, when it is. */
  problem?: string;
  neverPromoted: boolean;
  /** The ledger's last record of a deploy to this stage. */
  last?: LedgerRecord;
  /** Versions its Prometheus sees running; undefined when it could not be asked (with why in `runningUnknown`). */
  running?: string[];
  runningUnknown?: string;
  /** Disagreements between file, ledger and what runs. */
  flags: string[];
}

/** Versions that report `app_build_info` in the stage now, from its own Prometheus (identity checked). */
async function runningVersions(url: string, stage: Stage, identity: string): Promise<string[]> {
  const wrong = await identityProblem(url, stage, identity);
  if (wrong) throw new Error(wrong);
  const u = new URL('api/v1/query', url.endsWith('/') ? url : `${url}/`);
  u.searchParams.set('query', `count by (version) (${SERVICE_METRICS.buildInfo.name}{job="${APP_JOB}"})`);
  const data = await getJson<{ result: { metric: { version?: string } }[] }>(u, 3000);
  return data.result.map((r) => r.metric.version ?? '?').sort();
}

export async function stageStatuses(root: string, env: NodeJS.ProcessEnv = process.env): Promise<StageStatus[]> {
  const ledger = readLedger(root);
  const bad = badVersions(ledger);
  const pulumi = new PulumiCli(root, env);
  return Promise.all(
    STAGES.map(async (stage) => {
      const status: StageStatus = { stage, neverPromoted: false, flags: [] };
      let prometheus: { url: string; identity: string } | undefined;
      try {
        const stack = readStackFile(root, stage);
        prometheus = { url: stack.prometheusUrl, identity: stack.prometheusStage };
        status.image = stage === 'dev' ? resolveDevImage(pulumi, env) : pinnedImage(stack);
      } catch (err) {
        if (err instanceof NeverPromotedError) status.neverPromoted = true;
        else status.problem = (err as Error).message;
      }
      status.last = deploysOf(ledger, stage).pop();
      if (prometheus) {
        try {
          status.running = await runningVersions(prometheus.url, stage, prometheus.identity);
        } catch (err) {
          status.runningUnknown = (err as Error).message;
        }
      }
      const { image, last, running } = status;
      if (image && last && last.ref !== image.ref) {
        status.flags.push(
          `the stack file pins ${image.version}, the ledger's last deploy is ${last.version} (${last.ref}): edited by hand?`,
        );
      }
      if (last && last.ref === image?.ref && (last.outcome === 'failed' || last.outcome === 'not-deployed')) {
        status.flags.push(`the ledger's last deploy of ${last.version} is ${last.outcome}: make up ENV=${stage} deploys it`);
      }
      if (image && running && !(running.length === 1 && running[0] === image.version)) {
        status.flags.push(`running ${running.join(', ') || 'nothing'}, but the stack file pins ${image.version}`);
      }
      if (image && bad.has(image.version)) status.flags.push(`${image.version} is marked bad (${bad.get(image.version)})`);
      return status;
    }),
  );
}

const short = (d: string) => d.slice(0, 16);

export function formatStatus(statuses: StageStatus[], o: { verbose?: boolean } = {}): string {
  const rows = statuses.map((s) => {
    const l = s.last;
    const ledger = l ? `${l.version} ${actionOf(l)} ${l.outcome ?? 'deployed'}` : s.stage === 'dev' ? '(builds)' : '(none)';
    const when = l ? `${short(l.time.replace('T', ' '))} ${l.user.replace(/ <.*$/, '')}` : '';
    const running = s.running ? s.running.join(',') || 'none' : 'unknown';
    const pinned = s.neverPromoted ? 'never promoted' : (s.image?.version ?? '?');
    return [s.stage, pinned, ledger, running, s.flags.length ? '!' : '', when];
  });
  const header = ['stage', 'pinned', 'ledger', 'running', '', 'last change'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd()
      .slice(0, 100);
  const notes = statuses.flatMap((s) => [
    ...(o.verbose && s.image ? [`${s.stage}: ${s.image.ref}`] : []),
    ...(s.problem ? [`${s.stage}: unknown: ${s.problem}`] : []),
    ...(s.neverPromoted ? [`${s.stage}: never promoted: make promote VERSION=x.y.z pins its first image (one stage at a time)`] : []),
    ...(o.verbose && s.runningUnknown ? [`${s.stage}: running unknown: ${s.runningUnknown}`] : []),
    ...s.flags.map((f) => `${s.stage}: ! ${f}`),
  ]);
  return [line(header), ...rows.map(line), ...(notes.length ? ['', ...notes] : [])].join('\n');
}

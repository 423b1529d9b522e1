/**
 * Where a `node --cpu-prof` profile's time went, by self time per package / service file / Node
 * internal, so a profile answers "which step costs what" without a viewer.
 *
 *   tsx bench/profile-summary.ts out/bench-profile/CPU.*.cpuprofile [--top N]
 */
import fs from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

/** The bucket a frame's self time is charged to. */
export function bucketOf(frame: Node['callFrame']): string {
  const { url, functionName } = frame;
  if (!url) return functionName.startsWith('(') ? functionName : `(native) ${functionName || 'anonymous'}`;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return `npm ${pkg[1]}`;
  const own = /\/(app\/(?:dist|src)\/.*)$/.exec(url);
  if (own) return own[1]!;
  if (url.startsWith('node:')) return url.replace(/^node:internal\//, 'node:').replace(/\/.*$/, '');
  return url;
}

export function summarize(profile: Profile): Array<{ bucket: string; ms: number; share: number }> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const totals = new Map<string, number>();
  let all = 0;
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    const bucket = bucketOf(byId.get(id)!.callFrame);
    totals.set(bucket, (totals.get(bucket) ?? 0) + us);
    all += us;
  });
  return [...totals].map(([bucket, us]) => ({ bucket, ms: us / 1000, share: us / all })).sort((a, b) => b.ms - a.ms);
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const top = args.includes('--top') ? Number(args[args.indexOf('--top') + 1]) : 25;
  for (const file of args.filter((a) => a.endsWith('.cpuprofile'))) {
    const rows = summarize(JSON.parse(fs.readFileSync(file, 'utf8')) as Profile);
    const busy = rows.filter((r) => r.bucket !== '(idle)').reduce((s, r) => s + r.share, 0);
    console.log(`${file}: busy ${(busy * 100).toFixed(0)} % of the profiled time`);
    console.log('| self time | share | where |\n| ---: | ---: | --- |');
    for (const r of rows.slice(0, top)) console.log(`| ${r.ms.toFixed(0)} ms | ${(r.share * 100).toFixed(1)} % | ${r.bucket} |`);
  }
}

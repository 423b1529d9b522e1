/** `make dashboards`: renders every dashboard to <dir>/<uid>.json (plain dashboard JSON, as file provisioning wants it). */
import fs from 'node:fs';
import path from 'node:path';
import { allDashboards } from './index';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: tsx dashboards/src/render.ts OUTPUT_DIR');
  process.exit(2);
}
fs.mkdirSync(dir, { recursive: true });
const written = new Set<string>();
for (const d of allDashboards()) {
  if (!d.uid) throw new Error(`dashboard ${d.title} has no uid`);
  const file = `${d.uid}.json`;
  fs.writeFileSync(path.join(dir, file), `${JSON.stringify(d, null, 2)}\n`);
  written.add(file);
  console.log(`dashboards: ${path.join(dir, file)} (${d.panels?.length ?? 0} panels)`);
}
// Dashboards removed from the source disappear from the output too.
for (const f of fs.readdirSync(dir)) if (f.endsWith('.json') && !written.has(f)) fs.rmSync(path.join(dir, f));

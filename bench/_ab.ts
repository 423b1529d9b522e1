import { toEventRows as newRows } from '../app/src/ingest/validate';
import { toEventRows as oldRows } from './_old_validate';
import { createWorkload } from './workload';
const shape = (process.argv[2] ?? 'batch') as 'batch';
const w = createWorkload(shape, new Date().toISOString());
const bodies = Array.from({ length: 200 }, (_, i) => JSON.parse(w.body(i)));
const limits = {
  MAX_EVENTS_PER_REQUEST: 1000,
  PAYLOAD_MAX_BYTES: 65536,
  PAYLOAD_MAX_DEPTH: 8,
  EVENT_MAX_AGE_S: 7 * 86400,
  EVENT_MAX_FUTURE_S: 300,
};
const n = bodies.length * w.eventsPerRequest * 10;
const best: Record<string, number> = { old: 1e9, new: 1e9 };
for (let k = 0; k < 30; k++)
  for (const [name, f] of [
    ['old', oldRows],
    ['new', newRows],
  ] as const) {
    const t = performance.now();
    for (let r = 0; r < 10; r++) for (const b of bodies) f(b, '00000000-0000-4000-8000-000000000000', limits);
    best[name] = Math.min(best[name]!, ((performance.now() - t) * 1000) / n);
  }
console.log(
  shape,
  Object.entries(best)
    .map(([k, v]) => `${k} ${v.toFixed(3)} µs/event`)
    .join(', '),
);

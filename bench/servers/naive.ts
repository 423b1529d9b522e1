/**
 * Baseline (b), what a first version looks like: Express + pg, one INSERT per event, awaited in
 * turn, then 202. Same table and database settings as the service. Run as its own process by
 * bench/run.ts with DATABASE_URL and SENSOR_ID; prints `listening <port>` when ready.
 */
import express from 'express';
import { Pool } from 'pg';

interface Event {
  id: string;
  type: string;
  ts: string;
  payload: unknown;
}

const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
const sensorId = process.env.SENSOR_ID;

const app = express();
app.disable('x-powered-by');
app.post('/api/v1/events', express.json({ limit: '1mb' }), async (req, res) => {
  const body = req.body as Event | { events: Event[] };
  const events = 'events' in body ? body.events : [body];
  const receivedAt = new Date();
  for (const e of events) {
    await pool.query('INSERT INTO events (sensor_id, event_id, type, ts, received_at, payload) VALUES ($1, $2, $3, $4, $5, $6)', [
      sensorId,
      e.id,
      e.type,
      e.ts,
      receivedAt,
      JSON.stringify(e.payload),
    ]);
  }
  res.status(202).json({ accepted: events.length, duplicates: 0 });
});
app.use((err: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
  res.status(500).json({ error: err.message });
});

const server = app.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address();
  console.log(`listening ${typeof address === 'object' && address ? address.port : '?'}`);
});
process.once('SIGTERM', () => server.close(() => pool.end().then(() => process.exit(0))));

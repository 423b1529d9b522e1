/**
 * Baseline (a), the HTTP ceiling: Express 5 parsing the same JSON bodies and answering 202, nothing else.
 * Run as its own process by bench/run.ts; prints `listening <port>` when ready.
 */
import express from 'express';

const app = express();
app.disable('x-powered-by');
app.post('/api/v1/events', express.json({ limit: '1mb' }), (req, res) => {
  const events = (req.body as { events?: unknown[] }).events;
  res.status(202).json({ accepted: Array.isArray(events) ? events.length : 1, duplicates: 0 });
});

const server = app.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address();
  console.log(`listening ${typeof address === 'object' && address ? address.port : '?'}`);
});
process.once('SIGTERM', () => server.close(() => process.exit(0)));

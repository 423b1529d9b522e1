import { createSensor, postEvents, startTestService } from '../helpers';

describe('metric labels', () => {
  it('when a sensor sends 60 made-up types, then only the operator-listed types get a label, and another sensor’s listed type keeps its own', async () => {
    const svc = await startTestService({ METRIC_EVENT_TYPES: 'temperature, humidity', LOG_LEVEL: 'warn' });
    try {
      const [attacker, legit] = [await createSensor(svc.url), await createSensor(svc.url)];
      const madeUp = Array.from({ length: 60 }, (_, i) => ({ type: `made_up_${i}`, payload: {} }));
      expect((await postEvents(svc.url, attacker.token, { events: madeUp })).status).toBe(202);
      expect((await postEvents(svc.url, legit.token, { type: 'temperature', payload: { c: 21 } })).status).toBe(202);
      const text = await (await fetch(`${svc.url}/metrics`)).text();
      const labels = [...text.matchAll(/^events_ingested_total\{type="([^"]*)"\} (\d+)$/gm)].map((m) => [m[1], Number(m[2])]);
      expect(Object.fromEntries(labels)).toEqual({ other: 60, temperature: 1 });
    } finally {
      await svc.shutdown();
    }
  });

  it('when METRIC_EVENT_TYPES lists something that is not an event type, then the service refuses to start', async () => {
    await expect(startTestService({ METRIC_EVENT_TYPES: 'ok,not ok' })).rejects.toThrow(/METRIC_EVENT_TYPES/);
  });
});

/** The ingest use case: validate the whole request, queue its events, wait for COMMIT. */
import type { Batcher, IngestResult } from './batcher';
import { IngestLimits, toEventRows } from './validate';

export class Ingest {
  constructor(
    private readonly batcher: Batcher,
    private readonly limits: IngestLimits,
  ) {}

  async ingest(sensorId: string, body: unknown): Promise<IngestResult> {
    const { rows, bytes } = toEventRows(body, sensorId, this.limits);
    return this.batcher.submit(rows, bytes);
  }
}

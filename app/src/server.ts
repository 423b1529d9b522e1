/** Entry point: configuration → service → graceful shutdown on SIGTERM/SIGINT. */
import { ConfigError, configSummary, loadConfig } from './config';
import { startService } from './app';
import { createLogger } from './observability/logger';
import { commit, version } from './version';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const problem of err.problems) console.error(`config error: ${problem}`);
    process.exit(2);
  }
  const logger = createLogger(config.LOG_LEVEL);
  const service = await startService(config, logger);
  logger.info({ version, commit, url: service.url, config: configSummary(config) }, 'event-service started');

  const stop = (signal: string) => {
    logger.info({ signal }, 'signal received');
    service.shutdown().then((clean) => process.exit(clean ? 0 : 1));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  console.error(`event-service failed to start: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});

import { NestFactory } from '@nestjs/core';
import type { INestApplicationContext } from '@nestjs/common';
import type { DestinationStream, Logger as Pino } from 'pino';
import { type AppConfig, NestPinoLogger, PINO_LOGGER } from '@ibhq/core';
import { WorkerModule } from './worker.module.js';

/**
 * The worker: a Nest application context (no HTTP) that runs the job processors.
 * SIGTERM/SIGINT stop it gracefully: no new jobs, running ones finish (or are
 * handed back after SHUTDOWN_TIMEOUT_MS), then connections close.
 */
export async function createWorker(
  config: AppConfig,
  options: { logStream?: DestinationStream } = {},
): Promise<INestApplicationContext> {
  const app = await NestFactory.createApplicationContext(
    WorkerModule.forRoot(config, options.logStream),
    { bufferLogs: true, abortOnError: false },
  );
  app.useLogger(new NestPinoLogger(app.get<Pino>(PINO_LOGGER)));
  app.enableShutdownHooks();
  await app.init();
  return app;
}

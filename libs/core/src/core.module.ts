import { type DynamicModule, Module } from '@nestjs/common';
import pino, { type DestinationStream, type Logger as Pino } from 'pino';
import { AppConfig } from './config/app-config.js';
import { loggerOptions } from './logging/logger-options.js';
import { Clock } from './time/clock.js';

/** DI token of the process's pino logger (JSON lines, redaction: see loggerOptions). */
export const PINO_LOGGER = Symbol('PINO_LOGGER');

/**
 * The validated configuration, the clock and the logger, available to every module
 * of a process. `service` names the process in each log line; `logStream` (tests)
 * replaces stdout.
 */
@Module({})
export class CoreModule {
  static forRoot(
    config: AppConfig,
    options: { service?: string; logStream?: DestinationStream } = {},
  ): DynamicModule {
    const logger: Pino = pino(
      loggerOptions(options.service ?? 'ibhq', config.logLevel),
      options.logStream,
    );
    return {
      module: CoreModule,
      global: true,
      providers: [
        { provide: AppConfig, useValue: config },
        { provide: PINO_LOGGER, useValue: logger },
        Clock,
      ],
      exports: [AppConfig, PINO_LOGGER, Clock],
    };
  }
}

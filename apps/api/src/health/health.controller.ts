import { Controller, Get, Logger } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { DatabaseHealth } from '@ibhq/db';
import { RedisConnection } from '@ibhq/redis';
import { Public } from '../http/access.decorators.js';

const CHECK_TIMEOUT_MS = 2_000;

@ApiTags('health')
@Public()
@Controller('health')
export class HealthController {
  private readonly logger = new Logger(HealthController.name);

  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly database: DatabaseHealth,
    private readonly redis: RedisConnection,
  ) {}

  /** The process is up (for restarts): checks nothing else. */
  @Get('live')
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /** Ready to serve: PostgreSQL and Redis both answer (503 naming what is down). */
  @Get('ready')
  @HealthCheck()
  ready() {
    return this.health.check([
      () =>
        this.indicators
          .check('postgres')
          .attempt(() => this.probe('postgres', () => this.database.ping()))
          .withTimeout(CHECK_TIMEOUT_MS),
      () =>
        this.indicators
          .check('redis')
          .attempt(() => this.probe('redis', () => this.redis.ping(CHECK_TIMEOUT_MS)))
          .withTimeout(CHECK_TIMEOUT_MS),
    ]);
  }

  /** The public answer says only "unreachable"; the log keeps the cause (hosts, ports). */
  private async probe(name: string, ping: () => Promise<void>): Promise<void> {
    try {
      await ping();
    } catch (err) {
      this.logger.warn({ err, dependency: name }, 'readiness probe failed');
      throw new Error('unreachable', { cause: err });
    }
  }
}

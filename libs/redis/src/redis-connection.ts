import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import type { ConnectionOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { AppConfig, DomainError, ErrorCode } from '@ibhq/core';

/**
 * The process's Redis, behind one injectable class: a command client for the
 * product's own keys (sessions, leases, rate limits in later issues), the options
 * BullMQ needs for its connections, and the key prefix of the deployment.
 *
 * The command client does not queue commands while Redis is unreachable: a caller
 * gets an error at once (answered as 503) instead of a request that hangs.
 */
@Injectable()
export class RedisConnection implements OnApplicationShutdown {
  readonly client: Redis;
  readonly prefix: string;
  private readonly url: string;

  constructor(config: AppConfig) {
    this.url = config.redis.url;
    this.prefix = config.redis.keyPrefix;
    this.client = new Redis(this.url, {
      connectionName: `${this.prefix}:commands`,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 5_000,
      lazyConnect: true,
      // Commands of concurrent requests leave in one write per tick (sessions, API
      // keys and rate limits are on every request's path): fewer syscalls, same order.
      enableAutoPipelining: true,
    });
    // Errors surface on the commands that fail; the client reconnects by itself.
    this.client.on('error', () => undefined);
    this.client.connect().catch(() => undefined);
  }

  /** `<prefix>:<part>:<part>...` */
  key(...parts: readonly string[]): string {
    return [this.prefix, ...parts].join(':');
  }

  /**
   * Connection options for BullMQ. Workers need `maxRetriesPerRequest: null` (their
   * blocking commands must wait through reconnects); producers fail fast instead, so
   * that an API call answers 503 rather than hanging while Redis is down.
   */
  bullConnection(role: 'worker' | 'producer'): ConnectionOptions {
    return role === 'worker'
      ? { url: this.url, maxRetriesPerRequest: null }
      : {
          url: this.url,
          maxRetriesPerRequest: 1,
          enableOfflineQueue: false,
          connectTimeout: 5_000,
        };
  }

  /**
   * False once the command connection has been lost (it is reconnecting or closed):
   * callers can then fail at once instead of waiting for a timeout. True while it is
   * connected or still making its first connection.
   */
  get reachable(): boolean {
    return !['close', 'reconnecting', 'end'].includes(this.client.status);
  }

  /**
   * Runs commands on the command client; a lost connection or a failed command is
   * DEPENDENCY_UNAVAILABLE (503) at once, never a hang.
   */
  async call<T>(commands: (client: Redis) => Promise<T>): Promise<T> {
    if (!this.reachable) throw redisUnavailable(new Error('Redis connection is down'));
    try {
      // Still making its first connection (a process that has just started): wait for
      // it, briefly, rather than fail a request that arrived a moment too early.
      if (this.client.status !== 'ready') await this.ready(FIRST_CONNECT_WAIT_MS);
      return await commands(this.client);
    } catch (e) {
      throw redisUnavailable(e);
    }
  }

  private ready(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`Redis not connected within ${timeoutMs} ms`));
      }, timeoutMs);
      const onReady = () => {
        cleanup();
        resolve();
      };
      const onEnd = () => {
        cleanup();
        reject(new Error('Redis connection closed'));
      };
      const cleanup = () => {
        clearTimeout(timer);
        this.client.off('ready', onReady).off('end', onEnd).off('reconnecting', onEnd);
      };
      this.client.once('ready', onReady).once('end', onEnd).once('reconnecting', onEnd);
    });
  }

  /** Resolves when Redis answers PING within `timeoutMs`. */
  async ping(timeoutMs = 1_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.client.ping(),
        new Promise((_, reject) => {
          timer = setTimeout(() => {
            reject(new Error(`Redis did not answer within ${timeoutMs} ms`));
          }, timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.client.quit().catch(() => {
      this.client.disconnect();
    });
  }
}

/** How long a command waits for the first connection of a starting process. */
const FIRST_CONNECT_WAIT_MS = 2_000;

/** Turns a Redis failure into the product's "dependency unavailable" error. */
export function redisUnavailable(cause: unknown): DomainError {
  return new DomainError(
    ErrorCode.DependencyUnavailable,
    'A service IBHQ needs (Redis) is unavailable; nothing was done. Try again shortly.',
    { dependency: 'redis' },
    { cause },
  );
}

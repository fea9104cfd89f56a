// The Redis server the benchmarked API uses: its keys, and its CPU time.
import { readdirSync, readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { processCpuMs } from './cpu.mjs';

/** Deletes the keys under `prefix`; resolves to how many there were. */
export async function cleanRedis(url, prefix) {
  const redis = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    connectTimeout: 5_000,
  });
  await redis.connect();
  try {
    let removed = 0;
    for await (const keys of redis.scanStream({ match: `${prefix}:*`, count: 500 })) {
      if (keys.length > 0) removed += await redis.unlink(...keys);
    }
    return removed;
  } finally {
    redis.disconnect();
  }
}

/**
 * A function giving the CPU milliseconds used so far by the Redis server of `redisUrl`
 * when it runs on this machine (found by its command line), or null. Sessions and
 * API-key checks make Redis work per request: counted apart, not as other work.
 */
export function redisCpuReader(redisUrl) {
  const port = new URL(redisUrl).port || '6379';
  let pid = null;
  try {
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      try {
        const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8');
        if (cmd.startsWith('redis-server') && cmd.includes(`:${port}`)) {
          pid = d;
          break;
        }
      } catch {
        // gone meanwhile
      }
    }
  } catch {
    return () => null;
  }
  if (pid === null) return () => null;
  return () => processCpuMs(pid);
}

export { RedisConnection, redisUnavailable } from './redis-connection.js';
export { RedisModule } from './redis.module.js';

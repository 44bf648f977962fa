export { createRedisWorld, type RedisWorld, type RedisWorldOptions } from './redis-world.js';

// A throwaway PostgreSQL for trying a driver by hand: prints its URL, runs until Ctrl-C.
import { startPostgres } from '@cairn/world-postgres/testing';

const server = await startPostgres('bench');
console.log(server.connectionString);
const stop = async () => {
  await server.stop();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
setInterval(() => {}, 1 << 30);

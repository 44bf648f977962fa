// A world-http server in its own process, in front of PostgreSQL: what an operator runs so
// that workers need no database credentials. The e2e tests kill and restart it.
import { createWorldServer } from '@cairn/world-http';
import { createPostgresWorld } from '@cairn/world-postgres';

const connectionString = process.env.CAIRN_E2E_CONNECTION;
const schema = process.env.CAIRN_E2E_SCHEMA;
const token = process.env.CAIRN_E2E_HTTP_TOKEN;
if (!connectionString || !schema || !token) {
  throw new Error('CAIRN_E2E_CONNECTION, CAIRN_E2E_SCHEMA and CAIRN_E2E_HTTP_TOKEN must be set');
}

const world = createPostgresWorld({ connectionString, schema });
const server = createWorldServer({ world, tokens: [{ token, role: 'worker' }] });
const { url } = await server.listen({ port: Number(process.env.CAIRN_E2E_HTTP_PORT ?? 0), host: '127.0.0.1' });
process.stdout.write(`READY ${url}\n`);

process.once('SIGTERM', () => {
  void server
    .close()
    .then(() => world.close())
    .finally(() => process.exit(0));
});

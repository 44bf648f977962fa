import { type PostgresServer, startPostgres } from '@cairn/world-postgres/testing';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    connectionString: string;
  }
}

let server: PostgresServer | undefined;

/** One throwaway PostgreSQL for the whole run; each test isolates itself in its own schema. */
export async function setup(project: TestProject): Promise<void> {
  server = await startPostgres();
  project.provide('connectionString', server.connectionString);
}

export async function teardown(): Promise<void> {
  await server?.stop();
}

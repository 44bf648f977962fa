export { type MigrateOptions, type MigrateResult, migrate, migrations } from './migrations.js';
export { createPostgresWorld, type PostgresWorld, type PostgresWorldOptions } from './postgres-world.js';

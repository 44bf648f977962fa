// The benchmark's databases on its one PostgreSQL server: each system, floor and scale side
// gets one of its own, made empty before it is used.

/** `connectionString` with its database replaced by `database`. */
export function databaseUrl(connectionString, database) {
  const url = new URL(connectionString);
  url.pathname = `/${encodeURIComponent(database)}`;
  return url.toString();
}

/**
 * Drops `database` if it exists (ending its sessions) and creates it empty, through `admin`
 * (a connected pg client). Names come from the benchmark's own code, never from input.
 */
export async function recreateDatabase(admin, database) {
  await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${database}`);
}

import type { Command } from 'commander';
import { CliError } from '../cli-error.js';
import { type CommandContext, worldUrlOf } from '../context.js';
import { createProgress } from '../progress.js';
import { describeUrl, importWorldPackage, parseWorldUrl } from '../world-url.js';

interface MigrateModule {
  migrate(options: { connectionString: string; schema?: string }): Promise<{
    schema: string;
    applied: number[];
    version: number;
  }>;
}

export function registerMigrate(program: Command, { output }: CommandContext): void {
  program
    .command('migrate')
    .description("bring a PostgreSQL World's schema to the latest version (safe to run from many processes)")
    .option('--json', 'print the result as JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      const url = worldUrlOf(command);
      const target = parseWorldUrl(url);
      if (target.kind !== 'postgres') {
        throw CliError.usage(`migrate applies to PostgreSQL Worlds (postgres://…), not ${describeUrl(url)}`);
      }
      const { migrate } = await importWorldPackage<MigrateModule>(target.packageName, 'cairn migrate');
      const progress = createProgress('migrate', output);
      const result = await migrate({
        connectionString: target.connectionString,
        ...(target.schema ? { schema: target.schema } : {}),
      });
      progress.finish(
        result.applied.length === 0
          ? `schema ${result.schema} is already at version ${result.version}`
          : `applied ${result.applied.join(', ')} to schema ${result.schema}; now at version ${result.version}`,
      );
      if (options.json) output.out.write(`${JSON.stringify(result)}\n`);
    });
}

import type { StreamChunk, StreamInfo } from '@cairn/core/world';
import type { Command } from 'commander';
import { CliError } from '../cli-error.js';
import { type CommandContext, withWorld } from '../context.js';
import { type Column, formatJson, formatTable, formatTime } from '../output.js';

const streamColumns: Column<StreamInfo>[] = [
  { header: 'NAME', value: (stream) => stream.name },
  { header: 'CHUNKS', value: (stream) => String(stream.chunkCount) },
  { header: 'CLOSED', value: (stream) => (stream.closed ? 'yes' : 'no') },
  { header: 'UPDATED', value: (stream) => formatTime(stream.updatedAt) },
];

/** One chunk as a JSON line: text as `text`, bytes as `base64`. */
export const chunkJson = (chunk: StreamChunk) => ({
  index: chunk.index,
  createdAt: chunk.createdAt,
  ...(typeof chunk.data === 'string' ? { text: chunk.data } : { base64: Buffer.from(chunk.data).toString('base64') }),
});

interface ReadOptions {
  follow?: boolean;
  json?: boolean;
}

export function registerStreams(program: Command, { output }: CommandContext): void {
  const streams = program.command('streams').description("list and read a run's streams");

  streams
    .command('list')
    .description("list a run's streams")
    .argument('<runId>', 'the run')
    .option('--json', 'print JSON instead of a table')
    .action(async (runId: string, options: { json?: boolean }, command: Command) => {
      const found = await withWorld(command, { readOnly: true }, (world) => world.streams.list(runId));
      output.out.write(options.json ? formatJson(found) : formatTable(found, streamColumns));
    });

  streams
    .command('read')
    .description('print a stream; text chunks as they are, one JSON line per chunk with --json')
    .argument('<runId>', 'the run')
    .argument('<name>', 'the stream, e.g. default')
    .option('--follow', 'keep printing new chunks until the stream closes (the run ends) or Ctrl-C')
    .option('--json', 'print each chunk as a JSON line: {index, createdAt, text | base64}')
    .action(async (runId: string, name: string, options: ReadOptions, command: Command) => {
      const stop = new AbortController();
      const interrupt = () => stop.abort();
      process.once('SIGINT', interrupt);
      process.once('SIGTERM', interrupt);
      try {
        await withWorld(command, { readOnly: true }, async (world) => {
          let remaining = Number.POSITIVE_INFINITY;
          if (!options.follow) {
            // Without --follow, print what is there now and stop, open stream or not.
            const info = (await world.streams.list(runId)).find((stream) => stream.name === name);
            if (!info) throw new CliError(`run ${runId} has no stream named "${name}"`);
            remaining = info.chunkCount;
          }
          if (remaining === 0) return;
          for await (const chunk of world.streams.read(runId, name, { signal: stop.signal })) {
            if (options.json) output.out.write(`${JSON.stringify(chunkJson(chunk))}\n`);
            else output.out.write(chunk.data);
            remaining -= 1;
            if (remaining === 0) break;
          }
        });
      } finally {
        process.off('SIGINT', interrupt);
        process.off('SIGTERM', interrupt);
      }
    });
}

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Cluster, Redis } from 'ioredis';

export type ScriptName =
  | 'append'
  | 'send'
  | 'lease'
  | 'settle'
  | 'prune'
  | 'token-claim'
  | 'token-check'
  | 'token-swap'
  | 'stream-write';

const names: ScriptName[] = [
  'append',
  'send',
  'lease',
  'settle',
  'prune',
  'token-claim',
  'token-check',
  'token-swap',
  'stream-write',
];

/**
 * How long a write's id keeps a repeat of it from writing again (see repeat_find in
 * scripts/lib.lua). ioredis gives up on a command it holds to send again after
 * `maxRetriesPerRequest` reconnect attempts, each bounded by its connect timeout: minutes
 * at most, well inside this.
 */
export const repeatWindowMs = 10 * 60 * 1000;

interface Script {
  body: string;
  sha: string;
}

/**
 * Files sent ahead of a script's own, after lib.lua: Lua scripts cannot include each other,
 * so a script split by job is joined back into one body here.
 */
const parts: Partial<Record<ScriptName, readonly string[]>> = {
  append: ['append-draft.lua', 'append-requests.lua', 'append-write.lua'],
};

/** The scripts live as .lua files next to this module (src/scripts, or dist/scripts once built). */
function loadScripts(): Map<ScriptName, Script> {
  const read = (file: string) => readFileSync(new URL(`./scripts/${file}`, import.meta.url), 'utf8');
  const lib = read('lib.lua');
  const scripts = new Map<ScriptName, Script>();
  for (const name of names) {
    const body = [lib, ...(parts[name] ?? []).map(read), read(`${name}.lua`)].join('\n');
    scripts.set(name, { body, sha: createHash('sha1').update(body).digest('hex') });
  }
  return scripts;
}

let cache: Map<ScriptName, Script> | undefined;

const isNoScript = (error: unknown) => error instanceof Error && error.message.includes('NOSCRIPT');

/**
 * Runs a script by its SHA. A server that does not have it yet (first use, a restart, a
 * failover, SCRIPT FLUSH) answers NOSCRIPT; then the full body goes once with EVAL, which
 * also caches it on that server, and later calls go by SHA again. `key` is a key in the
 * partition the script works on: it routes the call to the right cluster node, and every
 * key the script touches shares its hash tag. `arg` is ARGV[1], as JSON; `texts` follow it
 * as they are (see append.lua).
 */
export async function runScript(
  client: Redis | Cluster,
  name: ScriptName,
  key: string,
  arg: unknown,
  texts: readonly string[] = [],
): Promise<unknown> {
  cache ??= loadScripts();
  const script = cache.get(name)!;
  const payload = JSON.stringify(arg);
  // Sent as buffers for the reason the reply is taken as one (below): given as text, a
  // step's output passed on its own stayed reachable to the young-generation collector
  // after the command had settled, and was promoted.
  const args = texts.map((text) => Buffer.from(text));
  // Answered as buffers, turned into text here. A script's reply carries the entities its
  // append changed, kilobytes of them when a step has a payload. Answered as text by
  // ioredis, each reply stayed reachable to the young-generation collector after its
  // command had settled, until the next full collection: every scavenge copied it, and the
  // second one moved it to the old generation. A buffer's bytes live outside the collected
  // heap, so whatever keeps one a while longer costs a scavenge a few dozen bytes, and
  // nothing of ioredis's refers to the text made from it.
  let reply: unknown;
  try {
    reply = await client.callBuffer('evalsha', script.sha, 1, key, payload, ...args);
  } catch (error) {
    if (!isNoScript(error)) throw error;
    reply = await client.callBuffer('eval', script.body, 1, key, payload, ...args);
  }
  return textOf(reply);
}

/** A reply as ioredis's text methods give it: bulk strings as text (a script may also answer an integer or nil). */
const textOf = (reply: unknown): unknown =>
  Buffer.isBuffer(reply) ? reply.toString() : Array.isArray(reply) ? reply.map(textOf) : reply;

/** Every script body, for SCRIPT LOAD when the World opens. */
export function scriptBodies(): string[] {
  cache ??= loadScripts();
  return [...cache.values()].map((script) => script.body);
}

import type { JsonValue, World } from '@cairn/core/world';

/**
 * How any process opens the case's World: a module (a URL or path import() accepts), the
 * name of its factory export, and the factory's JSON options. A factory function cannot
 * cross a process boundary; this can.
 */
export interface WorldSpec {
  module: string;
  factory: string;
  options: JsonValue;
}

export async function openWorld(spec: WorldSpec): Promise<World> {
  const loaded = (await import(spec.module)) as Record<string, unknown>;
  const factory = loaded[spec.factory];
  if (typeof factory !== 'function')
    throw new TypeError(`${spec.module} has no function export named ${JSON.stringify(spec.factory)}`);
  return (await (factory as (options: JsonValue) => World | Promise<World>)(spec.options)) as World;
}

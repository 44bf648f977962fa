import type { z } from 'zod';
import { InvalidInputError } from './errors/invalid-input-error.js';

function valueAtPath(root: unknown, path: readonly PropertyKey[]): unknown {
  let current = root;
  for (const key of path) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

/**
 * Parses `value` against `schema` or throws an `InvalidInputError` naming the first bad
 * field by its full path from `field` (e.g. `request.eventData.token`) and its value.
 * Every World calls this at its boundary before touching storage, so bad input never
 * writes anything.
 */
export function parseInput<Schema extends z.ZodType>(schema: Schema, value: unknown, field: string): z.output<Schema> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (!issue) throw new InvalidInputError({ field, value, reason: 'is invalid' });
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '';
    const parentPath = [field, ...path].join('.');
    return fail(`${parentPath}.${key}`, valueAtPath(value, [...issue.path, key]), 'is not a known field');
  }
  const offending = valueAtPath(value, issue.path);
  let reason = issue.message;
  if (offending === undefined && issue.code === 'invalid_type') reason = 'is required';
  else if (issue.code === 'invalid_union' && path.at(-1) === 'eventType') reason = 'is not a known event type';
  return fail([field, ...path].join('.'), offending, reason);
}

function fail(field: string, value: unknown, reason: string): never {
  throw new InvalidInputError({ field, value, reason });
}

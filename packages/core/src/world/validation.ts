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
 * Unions report a failure inside a container (a `z.json()` object holding a Date) as a
 * nested issue of the branch that matched the container. Follows those down to the
 * innermost value that failed, so the error names it rather than the whole payload.
 */
function innermost(issue: z.core.$ZodIssue): { issue: z.core.$ZodIssue; path: PropertyKey[] } {
  let current = issue;
  const path = [...issue.path];
  while (current.code === 'invalid_union') {
    const nested = current.errors.flat().find((candidate) => candidate.path.length > 0);
    if (!nested) break;
    current = nested;
    path.push(...nested.path);
  }
  return { issue: current, path };
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
  const first = result.error.issues[0];
  if (!first) throw new InvalidInputError({ field, value, reason: 'is invalid' });
  const { issue, path: issuePath } = innermost(first);
  const path = issuePath.map(String);
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '';
    const parentPath = [field, ...path].join('.');
    return fail(`${parentPath}.${key}`, valueAtPath(value, [...issuePath, key]), 'is not a known field');
  }
  const offending = valueAtPath(value, issuePath);
  let reason = issue.message;
  if (offending === undefined && issue.code === 'invalid_type') reason = 'is required';
  else if (issue.code === 'invalid_union' && path.at(-1) === 'eventType') reason = 'is not a known event type';
  else if (issue !== first) reason = 'is not a JSON value (payloads must survive JSON.stringify unchanged)';
  return fail([field, ...path].join('.'), offending, reason);
}

function fail(field: string, value: unknown, reason: string): never {
  throw new InvalidInputError({ field, value, reason });
}

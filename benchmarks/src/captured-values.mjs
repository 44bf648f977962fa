// What the tools that replay a captured run share: the captured values, as JSON, made new
// for each replay, with fresh ids and stamps moved to the present.
import { ulid } from '@cairn/core/world';

const idPattern = /[0-9A-HJKMNP-TV-Z]{26}/g; // run, message and claim ids are ULIDs
const stampPattern = /\b1\d{12}\b/g; // milliseconds since 1970, this century

/** The ids in `templates` (JSON texts of captured values). */
export const idsIn = (templates) => new Set(templates.join('').match(idPattern));

/** A fresh id for each of `ids`, for one replay. */
export const freshIds = (ids) => new Map([...ids].map((id) => [id, ulid()]));

/** How far to move a captured stamp so that it lands just ahead of now, as the engine proposes its stamps. */
export const offsetToNow = (stamp) => Date.now() + 500 - stamp;

/** `template` with each id replaced by its fresh one (kept when it has none) and every stamp moved by `offsetMs`. */
export function refreshed(template, fresh, offsetMs) {
  return template
    .replace(idPattern, (id) => fresh.get(id) ?? id)
    .replace(stampPattern, (stamp) => String(Number(stamp) + offsetMs));
}

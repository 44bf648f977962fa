import * as crypto from 'node:crypto';
import { InvalidInputError } from '@cairn/core/world';
import { ForbiddenError } from './errors/forbidden-error.js';
import { UnauthorizedError } from './errors/unauthorized-error.js';

/** `worker` may do everything; `read` may read views, events and streams and nothing else. */
export type Role = 'worker' | 'read';

export interface TokenGrant {
  /** A secret of 24 to 1024 printable characters; send it as `Authorization: Bearer <token>`. */
  token: string;
  role: Role;
}

const minimumTokenLength = 24;
/** The longest token `authenticate` reads from a header; a longer one could never be presented. */
const maximumTokenLength = 1024;

/**
 * The accepted tokens, kept only as SHA-256 digests. Every check hashes the presented
 * token and compares it with every grant using `timingSafeEqual`, without stopping at a
 * match, so neither the time taken nor the grant order tells an attacker anything.
 */
export class TokenTable {
  private grants: { digest: Buffer; role: Role }[] = [];

  constructor(grants: readonly TokenGrant[]) {
    this.replace(grants);
  }

  /** Swaps the whole set at once: how tokens rotate without a restart. */
  replace(grants: readonly TokenGrant[]): void {
    if (!Array.isArray(grants) || grants.length === 0) {
      // Never the value itself: a grant passed without its array around it would print its token.
      const shown = Array.isArray(grants) ? '[]' : grants === null ? 'null' : typeof grants;
      throw new InvalidInputError({ field: 'tokens', value: shown, reason: 'must be a non-empty array of grants' });
    }
    // Where each token was first listed: a repeat would be ambiguous (only its first role would
    // ever count), so it is refused rather than guessed at, and named by position, never by value.
    const firstListed = new Map<string, number>();
    this.grants = grants.map((grant, index) => {
      const field = `tokens[${index}]`;
      if (typeof grant?.token !== 'string' || !/^[\x21-\x7e]+$/.test(grant.token)) {
        throw new InvalidInputError({ field: `${field}.token`, value: '(hidden)', reason: 'must be printable ASCII' });
      }
      if (grant.token.length < minimumTokenLength || grant.token.length > maximumTokenLength) {
        throw new InvalidInputError({
          field: `${field}.token`,
          value: `${grant.token.length} characters`,
          reason: `must be ${minimumTokenLength} to ${maximumTokenLength} characters`,
        });
      }
      if (grant.role !== 'worker' && grant.role !== 'read') {
        throw new InvalidInputError({
          field: `${field}.role`,
          value: grant.role,
          reason: "must be 'worker' or 'read'",
        });
      }
      const earlier = firstListed.get(grant.token);
      if (earlier !== undefined) {
        throw new InvalidInputError({
          field: `${field}.token`,
          value: '(hidden)',
          reason: `repeats tokens[${earlier}].token: list each token once, with one role`,
        });
      }
      firstListed.set(grant.token, index);
      return { digest: digest(grant.token), role: grant.role };
    });
  }

  /** The role of the bearer token in an `Authorization` header. Throws `UnauthorizedError`. */
  authenticate(header: string | undefined): Role {
    const match = bearerPattern.exec(header ?? '');
    if (!match) throw new UnauthorizedError('A bearer token is required (Authorization: Bearer <token>)');
    const presented = digest(match[1]!);
    let role: Role | undefined;
    for (const grant of this.grants) {
      if (crypto.timingSafeEqual(grant.digest, presented) && role === undefined) role = grant.role;
    }
    if (role === undefined) throw new UnauthorizedError('The bearer token is not valid');
    return role;
  }
}

const bearerPattern = new RegExp(`^Bearer ([\\x21-\\x7e]{1,${maximumTokenLength}})$`);

/** Throws `ForbiddenError` unless `role` may call a route that needs `required`. */
export function authorize(route: string, required: Role, role: Role): void {
  if (required === 'worker' && role !== 'worker') throw new ForbiddenError({ route, requiredRole: required, role });
}

/**
 * SHA-256 of a token. The one-shot `crypto.hash` (Node 20.12 and later) skips building a Hash
 * object per request, a measurable share of a short request's cost.
 */
const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: 'buffer') => Buffer }).hash;
const digest: (token: string) => Buffer = oneShot
  ? (token) => oneShot('sha256', token, 'buffer')
  : (token) => crypto.createHash('sha256').update(token).digest();

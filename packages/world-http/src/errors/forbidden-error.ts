import { CairnError } from '@cairn/core/world';

const marker = Symbol.for('cairn.error.Forbidden');

/** The token is valid but its role may not call this route: a `read` token writing (HTTP 403). */
export class ForbiddenError extends CairnError {
  override readonly code = 'FORBIDDEN';
  /** The role the route needs. */
  readonly requiredRole: string;
  /** The role the token has. */
  readonly role: string;

  constructor(args: { route: string; requiredRole: string; role: string }) {
    super(`Route ${args.route} needs a ${args.requiredRole} token; this token's role is ${args.role}`);
    this.requiredRole = args.requiredRole;
    this.role = args.role;
    Object.defineProperty(this, marker, { value: true, enumerable: false });
  }

  static override is(error: unknown): error is ForbiddenError {
    return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[marker] === true;
  }

  override toJSON() {
    return { ...super.toJSON(), requiredRole: this.requiredRole, role: this.role };
  }
}

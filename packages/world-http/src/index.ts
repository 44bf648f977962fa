export type { Role, TokenGrant } from './auth.js';
export type { WireError } from './error-mapping.js';
export { ForbiddenError } from './errors/forbidden-error.js';
export { PayloadTooLargeError } from './errors/payload-too-large-error.js';
export { ProtocolError, type ProtocolErrorCode } from './errors/protocol-error.js';
export { UnauthorizedError } from './errors/unauthorized-error.js';
export { createWorldServer, type WorldServer, type WorldServerOptions } from './http-server.js';
export { createHttpWorld, type HttpWorld, type HttpWorldOptions } from './http-world.js';
export { redactedWebhookToken } from './redaction.js';

// What the measuring tools that wrap pg's `Client.prototype.query` share: following a
// statement's reply, whichever way the caller handed pg its callback.

/**
 * Makes `onReply` run when the statement of a `query(...args)` call answers, just before
 * its callback: the callback is either the call's last argument (pg's callback form) or the
 * `callback` of the query object passed first (how world-postgres sends its statements).
 * Returns false, changing nothing, when the call has no callback to follow (pg's promise form).
 */
export function followReply(args, onReply) {
  const last = args.at(-1);
  if (typeof last === 'function') {
    args[args.length - 1] = function (...reply) {
      onReply();
      return last.apply(this, reply);
    };
    return true;
  }
  const query = args[0];
  if (typeof query?.submit !== 'function' || typeof query.callback !== 'function') return false;
  const callback = query.callback;
  query.callback = function (...reply) {
    onReply();
    return callback.apply(this, reply);
  };
  return true;
}

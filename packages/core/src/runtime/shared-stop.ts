import { setMaxListeners } from 'node:events';

/**
 * A worker's stop signal, listened to by every waiting pass and every running step attempt
 * at once. Node warns of a possible leak past ten listeners on one signal; here that many is
 * the design (each listener is removed when its wait or attempt ends), and the warning
 * would alarm anyone reading the worker's logs, so the limit is lifted for this signal only.
 */
export function sharedStopController(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}

/**
 * True when `JSON.parse(JSON.stringify(value))` gives back the same value: nulls, booleans,
 * strings, finite numbers, and arrays and plain objects of them, nothing else. What comes out
 * false is anything JSON would turn into something else on the way to the server (a Date into
 * a string, an undefined or a symbol key dropped, NaN into null, a Map into `{}`), or that
 * nests deeper than `depth`. It never throws.
 *
 * A value that passes arrives at the server exactly as it was sent, so the World there sees
 * what the caller passed and judges it as a World in this process would; only a value that
 * fails needs the contract's checks here, before JSON changes it.
 */
export function survivesJson(value: unknown, depth = 64): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value);
    case 'object': {
      if (value === null) return true;
      if (depth === 0) return false;
      const prototype = Object.getPrototypeOf(value);
      if (Array.isArray(value)) {
        if (prototype !== Array.prototype) return false;
        // A hole reads as undefined, which JSON turns into null.
        for (let index = 0; index < value.length; index++) {
          if (!survivesJson(value[index], depth - 1)) return false;
        }
        return true;
      }
      if (prototype !== Object.prototype && prototype !== null) return false;
      // The enumerable string keys, as JSON sees them; a symbol key JSON would drop.
      for (const key in value) {
        if (!survivesJson((value as Record<string, unknown>)[key], depth - 1)) return false;
      }
      return Object.getOwnPropertySymbols(value).length === 0;
    }
    default:
      return false;
  }
}

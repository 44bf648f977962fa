/**
 * `target` with some members replaced. Every other member is read from `target` itself,
 * methods bound to it, so a World (or a part of one) built as a class keeps the methods on
 * its prototype, which copying its own properties would drop, and every argument reaches
 * it. The proxy stands on an empty object of its own: a frozen target's properties could
 * not be answered differently through a proxy of the target itself. Its own keys are the
 * members along the target's prototype chain too, so spreading it keeps them, and a write
 * to a replaced member lands in `replaced`.
 */
export function overlay<Target extends object>(target: Target, replaced: Partial<Target>): Target {
  const replaces = (key: PropertyKey) => Object.hasOwn(replaced, key);
  const read = (key: PropertyKey): unknown => {
    if (replaces(key)) return (replaced as Record<PropertyKey, unknown>)[key];
    const value: unknown = Reflect.get(target, key, target);
    return typeof value === 'function' ? value.bind(target) : value;
  };
  const members = () => {
    const keys = new Set<string | symbol>(Reflect.ownKeys(replaced));
    for (let level: object | null = target; level !== null && level !== Object.prototype; ) {
      for (const key of Reflect.ownKeys(level)) if (key !== 'constructor') keys.add(key);
      level = Object.getPrototypeOf(level) as object | null;
    }
    return keys;
  };
  return new Proxy({} as Target, {
    get: (_, key) => read(key),
    set: (_, key, value) =>
      replaces(key) ? Reflect.set(replaced, key, value) : Reflect.set(target, key, value, target),
    has: (_, key) => replaces(key) || key in target,
    ownKeys: () => [...members()],
    getOwnPropertyDescriptor: (_, key) =>
      members().has(key) ? { value: read(key), enumerable: true, configurable: true, writable: true } : undefined,
  });
}

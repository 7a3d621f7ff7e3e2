/**
 * Freezing a validated config all the way down: nothing downstream can change a setting.
 * Apart from load.ts so that a worker freezes the config the primary validated without
 * loading the validator.
 */

export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as object)) deepFreeze(v);
  }
  return value;
}

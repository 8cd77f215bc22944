/**
 * Argument checks shared by the buffer and codec classes, so that a wrong-typed argument is
 * the same `ZgnetError` (`ERR_INVALID_ARGUMENT`) in both modes instead of whatever koffi or
 * the wasm boundary makes of it (a TypeError, or a silently truncated number).
 */
import { invalidArgument, invalidOption } from '../errors.js';

/** Bytes to copy in: a Uint8Array (any Buffer) or a string (UTF-8). */
export function bytesArg(value: unknown, name: string): Uint8Array {
  if (typeof value === 'string') return Buffer.from(value);
  if (value instanceof Uint8Array) return value;
  throw invalidArgument(name, 'must be a Uint8Array or a string', value);
}

/** Bytes only: where a string has no obvious meaning (a payload to frame, a target to fill). */
export function uint8ArrayArg(value: unknown, name: string): Uint8Array {
  if (value instanceof Uint8Array) return value;
  throw invalidArgument(name, 'must be a Uint8Array', value);
}

/**
 * A byte count where `n <= 0` or omitted means "all" (gnet's rule): `undefined` or an integer, or
 * ±Infinity (Infinity is at least everything buffered, so it means all too). Returns 0 for
 * "all", else the count; NaN, fractions and non-numbers are refused.
 */
export function countArg(value: unknown, name: string): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number' || !(Number.isInteger(value) || value === Infinity || value === -Infinity)) {
    throw invalidArgument(name, 'must be an integer (<= 0 or omitted: all)', value);
  }
  return value > 0 && value !== Infinity ? value : 0;
}

/** A constructor's options bag: `undefined` (none) or an object; anything else is ERR_INVALID_OPTION. */
export function optionsArg<T extends object>(value: unknown): T {
  if (value === undefined) return {} as T;
  if (typeof value !== 'object' || value === null) throw invalidOption('options', 'must be an object');
  return value as T;
}

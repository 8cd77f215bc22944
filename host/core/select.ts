/**
 * Mode selection: which artifact backs the core. `'auto'` (the default) takes the native
 * library when it loads and the wasm module otherwise; `ZGNET_MODE` overrides `'auto'`.
 */
import { ErrorCode, ZgnetError, invalidOption } from '../errors.js';
import { createWasmBinding } from '../../wasm/wasm-binding.js';
import type { CoreBinding, Mode } from './binding.js';
import { createNativeBinding } from './native-binding.js';
import { hostPlatform, targetFor } from './platform.js';

/** A `Mode`, or `'auto'`: native when its library loads, else wasm (`ZGNET_MODE` overrides `'auto'`). */
export type ModeOption = Mode | 'auto';

const bindings: Partial<Record<Mode, CoreBinding>> = {};
let nativeFailure: Error | undefined;

/** The binding of one mode; throws `ERR_NATIVE_UNAVAILABLE` when the native library cannot load. */
export function bindingFor(mode: Mode): CoreBinding {
  const existing = bindings[mode];
  if (existing) return existing;
  if (mode === 'wasm') return (bindings.wasm = createWasmBinding());
  if (nativeFailure) throw nativeUnavailable(nativeFailure);
  try {
    return (bindings.native = createNativeBinding());
  } catch (err) {
    nativeFailure = err as Error;
    throw nativeUnavailable(nativeFailure);
  }
}

function nativeUnavailable(cause: Error): ZgnetError {
  return new ZgnetError(ErrorCode.NATIVE_UNAVAILABLE, `native library unavailable: ${cause.message}`, { cause });
}

/** Why `'auto'` did not pick native, for the one debug line the engine logs. */
export function nativeUnavailableReason(): string | undefined {
  return nativeFailure?.message;
}

let fallbackReported = false;
const consoleWarn = (message: string) => console.warn(`[zgnet] ${message}`);

/**
 * Once per process, when `'auto'` fell back to wasm where native was expected (a platform
 * zgnet ships a package for, or a `ZGNET_NATIVE_LIB` that did not load): one warning with the
 * reason, since wasm mode is markedly slower. Where no package exists, wasm is the plan and
 * the engine only logs at debug level.
 */
function reportFallback(warn: (message: string) => void = consoleWarn): void {
  if (fallbackReported || !nativeFailure) return;
  if (!process.env.ZGNET_NATIVE_LIB && !targetFor(hostPlatform())) return;
  fallbackReported = true;
  warn(`native library unavailable, running in wasm mode: ${nativeFailure.message}`);
}

export function parseMode(value: unknown, name = 'mode'): ModeOption {
  if (value === undefined) return 'auto';
  if (value === 'native' || value === 'wasm' || value === 'auto') return value;
  throw invalidOption(name, `must be 'native', 'wasm' or 'auto'`, value);
}

/**
 * Resolves a requested mode: explicit modes stand; `'auto'` honours `ZGNET_MODE`, then tries
 * native. `warn` receives the one fallback warning (default: `console.warn`).
 */
export function resolveMode(requestedOption: unknown = 'auto', warn?: (message: string) => void): Mode {
  const requested = parseMode(requestedOption);
  if (requested !== 'auto') {
    bindingFor(requested);
    return requested;
  }
  const fromEnv = process.env.ZGNET_MODE;
  if (fromEnv !== undefined && fromEnv !== '' && fromEnv !== 'auto') {
    const mode = parseMode(fromEnv, 'ZGNET_MODE') as Mode;
    bindingFor(mode);
    return mode;
  }
  try {
    bindingFor('native');
    return 'native';
  } catch {
    bindingFor('wasm');
    reportFallback(warn);
    return 'wasm';
  }
}

/** The binding for a requested mode (see `resolveMode`). */
export function resolveBinding(requested: unknown = 'auto'): CoreBinding {
  return bindingFor(resolveMode(requested));
}

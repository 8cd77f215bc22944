/**
 * Status codes by name, read once per binding from the artifact (`zg_status_name`), so the
 * host never keeps its own copy of the numbers.
 */
import type { CoreBinding } from './binding.js';

const tables = new WeakMap<CoreBinding, Map<string, number>>();

/** Codes are dense from 0 downwards; a bound keeps a broken artifact from looping forever. */
const STATUS_CODES_MAX = 1024;

export function statusCode(binding: CoreBinding, name: string): number {
  let table = tables.get(binding);
  if (!table) {
    table = new Map();
    for (let code = 0; code > -STATUS_CODES_MAX; code--) {
      const n = binding.zg_status_name(code);
      if (n === null) break;
      table.set(n, code);
    }
    tables.set(binding, table);
  }
  const code = table.get(name);
  if (code === undefined) throw new Error(`the ${binding.mode} artifact has no status ${name}`);
  return code;
}

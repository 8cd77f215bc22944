/**
 * The host's side of zig-src/boundary.zig: every table that crosses the boundary is
 * written once on this side too (the enums beside `CoreBinding`, `L` beside the native
 * engine's binding, the export prototypes below and in native/binding.ts) and compared, at
 * load, with what the artifact itself says. Any difference, a value, a name, a prototype,
 * refuses the artifact with the list of differences: every test then fails, so a table that
 * drifts on either side cannot pass `npm test`.
 *
 * The prototypes serve three uses from one text: koffi parses them (native), the wasm
 * `Exports` type is derived from them (`WasmExports`), and the artifact's own list, generated
 * from the Zig declarations, must equal them.
 */

/** The five table functions, the bootstrap: fixed, so they are not in the tables. */
export const TABLE_EXPORTS = {
  zg_abi_item_count: 'uint32_t zg_abi_item_count()',
  zg_abi_item_name: 'const char *zg_abi_item_name(uint32_t)',
  zg_abi_item_value: 'int32_t zg_abi_item_value(uint32_t)',
  zg_abi_export_count: 'uint32_t zg_abi_export_count()',
  zg_abi_export_signature: 'const char *zg_abi_export_signature(uint32_t)',
} as const;

/** Longest name or prototype the artifact serves (`text_bytes_max` in boundary.zig). */
export const TEXT_BYTES_MAX = 256;

/** Entries per table the host reads at most: a broken artifact cannot make it loop. */
const TABLE_ENTRIES_MAX = 4096;

export interface TableReader {
  itemCount(): number;
  itemName(index: number): string | null;
  itemValue(index: number): number;
  exportCount(): number;
  exportSignature(index: number): string | null;
}

export interface ArtifactTables {
  items: Map<string, number>;
  /** Prototype by function name. */
  signatures: Map<string, string>;
}

/** The function name a prototype declares: `const char *zg_status_name(int32_t)` → `zg_status_name`. */
export function signatureName(signature: string): string {
  const match = /([A-Za-z_][A-Za-z0-9_]*)\(/.exec(signature);
  if (match === null) throw new Error(`not a prototype: ${signature}`);
  return match[1]!;
}

export function readTables(reader: TableReader): ArtifactTables {
  const items = new Map<string, number>();
  const itemCount = reader.itemCount();
  const exportCount = reader.exportCount();
  if (itemCount > TABLE_ENTRIES_MAX || exportCount > TABLE_ENTRIES_MAX) throw new Error('artifact tables too large: rebuild');
  for (let i = 0; i < itemCount; i++) items.set(reader.itemName(i) ?? `#${i}`, reader.itemValue(i));
  const signatures = new Map<string, string>();
  for (let i = 0; i < exportCount; i++) {
    const signature = reader.exportSignature(i) ?? `#${i}(`;
    signatures.set(signatureName(signature), signature);
  }
  return { items, signatures };
}

/** `prefix_snake_name` entries of a host enum table (`elasticRing` → `buffer_kind_elastic_ring`). */
export function enumItems(prefix: string, table: Readonly<Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(table)) {
    const snake = key.replace(/-/g, '_').replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    out[`${prefix}_${snake}`] = value;
  }
  return out;
}

export interface Expected {
  items: Readonly<Record<string, number>>;
  /** Prototypes keyed by function name. */
  signatures: Readonly<Record<string, string>>;
}

/**
 * The differences between the artifact's tables and the host's; empty when they agree.
 * `exhaustive`: the artifact may hold nothing the host does not list (else only the host's
 * entries are compared: another part of the host checks the rest).
 */
export function tableDrift(artifact: ArtifactTables, expected: Expected, exhaustive: boolean): string[] {
  const drift: string[] = [];
  for (const [name, value] of Object.entries(expected.items)) {
    const got = artifact.items.get(name);
    if (got !== value) drift.push(`item ${name}: artifact ${got ?? 'has none'}, host ${value}`);
  }
  for (const [name, signature] of Object.entries(expected.signatures)) {
    if (signatureName(signature) !== name) drift.push(`host lists ${name} as '${signature}'`);
    const got = artifact.signatures.get(name);
    if (got !== signature) drift.push(`export ${name}: artifact '${got ?? 'none'}', host '${signature}'`);
  }
  if (exhaustive) {
    for (const name of artifact.items.keys()) if (!(name in expected.items)) drift.push(`item ${name}: unknown to the host`);
    for (const name of artifact.signatures.keys()) {
      if (!(name in expected.signatures)) drift.push(`export ${name}: unknown to the host`);
    }
  }
  return drift;
}

/**
 * The members of a binding named otherwise than an export of `exports` (`data` lists the
 * members that are values, not functions). Each host function bears the name of the Zig
 * function it calls, so that a trace reads the same on both sides of the boundary.
 */
export function bindingNameDrift(binding: object, exports: Readonly<Record<string, string>>, data: readonly string[]): string[] {
  return Object.keys(binding)
    .filter((name) => !data.includes(name) && !(name in exports))
    .map((name) => `binding ${name}: no export of that name`);
}

/** Throws when a binding names a function differently from the export it calls. */
export function checkBindingNames(what: string, binding: object, exports: Readonly<Record<string, string>>, data: readonly string[]): void {
  const drift = bindingNameDrift(binding, exports, data);
  if (drift.length > 0) throw new Error(`${what} is named apart from its exports:\n  ${drift.join('\n  ')}`);
}

/** Throws the drift, if any: the artifact was built from other sources than this host. */
export function checkTables(what: string, artifact: ArtifactTables, expected: Expected, exhaustive: boolean): void {
  const drift = tableDrift(artifact, expected, exhaustive);
  if (drift.length > 0) {
    throw new Error(`${what} does not match this host (rebuild with 'npm run build'):\n  ${drift.join('\n  ')}`);
  }
}

// ---- the wasm view of a prototype ----------------------------------------------------------

/** wasm32 passes every integer and pointer of these prototypes as an i32: a number. */
type WasmParams<P extends string> = P extends '' ? [] : P extends `${string}, ${infer Rest}` ? [number, ...WasmParams<Rest>] : [number];
type WasmFunction<S extends string> = S extends `void ${string}(${infer P})`
  ? (...args: WasmParams<P>) => void
  : S extends `${string}(${infer P})`
    ? (...args: WasmParams<P>) => number
    : never;

/** The exports of a wasm artifact whose prototypes are `T`, plus its memory. */
export type WasmExports<T extends Readonly<Record<string, string>>> = { memory: WebAssembly.Memory } & {
  [K in keyof T]: WasmFunction<T[K]>;
};

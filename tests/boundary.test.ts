/**
 * The boundary tables (zig-src/boundary.zig): the artifact of this mode serves its tables,
 * the host's copies match them, and a copy that differs in one value is reported. Loading a
 * binding runs the same check, so a drift also fails every other suite.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BINDING_DATA, CORE_EXPORTS, CORE_ITEMS } from '../host/core/binding.js';
import { bindingNameDrift, enumItems, readTables, signatureName, tableDrift, type ArtifactTables } from '../host/core/boundary.js';
import { bindingFor } from '../host/core/select.js';
import { openNativeLibrary } from '../host/core/native-binding.js';
import { loadWasmCore } from '../wasm/wasm-binding.js';
import { ENGINE_API_DATA, ENGINE_EXPORTS, ENGINE_ITEMS, engineApi, L, systemFailure } from '../host/native/binding.js';
import { testMode } from './support/mode.js';

function artifactTables(): ArtifactTables {
  if (testMode === 'native') return openNativeLibrary().tables;
  const core = loadWasmCore();
  const x = core.exports;
  return readTables({
    itemCount: () => x.zg_abi_item_count(),
    itemName: (i) => core.cString(x.zg_abi_item_name(i)),
    itemValue: (i) => x.zg_abi_item_value(i),
    exportCount: () => x.zg_abi_export_count(),
    exportSignature: (i) => core.cString(x.zg_abi_export_signature(i)),
  });
}

const expected =
  testMode === 'native'
    ? { items: { ...CORE_ITEMS, ...ENGINE_ITEMS }, signatures: { ...CORE_EXPORTS, ...ENGINE_EXPORTS } }
    : { items: CORE_ITEMS, signatures: CORE_EXPORTS };

test(`boundary (${testMode}): the artifact's tables are the host's`, () => {
  if (testMode === 'native') engineApi(); // runs the engine's exhaustive check
  const tables = artifactTables();
  assert.ok(tables.items.size >= Object.keys(CORE_ITEMS).length);
  assert.ok(tables.signatures.size >= Object.keys(CORE_EXPORTS).length);
  assert.deepEqual(tableDrift(tables, expected, false), []);
  // Every export of the artifact is one the host declares (koffi strings, wasm type).
  for (const name of tables.signatures.keys()) assert.ok(name in expected.signatures, `${name} undeclared by the host`);
});

test(`boundary (${testMode}): one value or prototype changed on one side is reported`, () => {
  const tables = artifactTables();
  const items = { ...expected.items, buffer_kind_elastic: expected.items.buffer_kind_elastic! + 1 };
  assert.deepEqual(tableDrift(tables, { items, signatures: expected.signatures }, false), [
    `item buffer_kind_elastic: artifact ${expected.items.buffer_kind_elastic}, host ${items.buffer_kind_elastic}`,
  ]);
  const signatures = { ...expected.signatures, zg_buffer_new: 'intptr_t zg_buffer_new(uint32_t)' };
  const drift = tableDrift(tables, { items: expected.items, signatures }, false);
  assert.equal(drift.length, 1);
  assert.match(drift[0]!, /^export zg_buffer_new: artifact 'intptr_t zg_buffer_new\(uint32_t, uintptr_t\)'/);
  // An entry the host does not know fails the exhaustive check.
  const fewer = { ...expected.items };
  delete fewer.abi_version;
  assert.deepEqual(tableDrift(tables, { items: fewer, signatures: expected.signatures }, true), ['item abi_version: unknown to the host']);
});

test(`boundary (${testMode}): every binding function bears its export's name; another name is reported`, () => {
  const binding = bindingFor(testMode);
  const names = Object.keys(binding).filter((name) => name !== 'mode');
  assert.equal(names.length, Object.keys(CORE_EXPORTS).length - 3); // all but zg_abi_version, zg_alloc, zg_free (the loaders' own)
  assert.deepEqual(bindingNameDrift(binding, CORE_EXPORTS, BINDING_DATA), []);
  for (const name of names) assert.ok(name in CORE_EXPORTS, name);
  if (testMode === 'native') {
    const api = engineApi();
    assert.deepEqual(bindingNameDrift(api, ENGINE_EXPORTS, ENGINE_API_DATA), []);
    assert.equal(Object.keys(api).length, Object.keys(ENGINE_EXPORTS).length); // optionNames stands for zg_engine_option_name
  }
  const renamed = { ...binding, bufferNew: binding.zg_buffer_new };
  assert.deepEqual(bindingNameDrift(renamed, CORE_EXPORTS, BINDING_DATA), ['binding bufferNew: no export of that name']);
});

test('boundary: host enum names map to the Zig spelling', () => {
  assert.deepEqual(enumItems('lb_policy', { 'source-addr-hash': 2, elasticRing: 1 }), {
    lb_policy_source_addr_hash: 2,
    lb_policy_elastic_ring: 1,
  });
  assert.equal(signatureName('const char *zg_status_name(int32_t)'), 'zg_status_name');
});

test('boundary: a system result carries errno and syscall, apart from status codes', () => {
  const result = -(L.system_base + L.syscall_epoll_ctl * L.system_errno_limit + 24);
  assert.deepEqual(systemFailure(result), { errno: 24, syscall: 'epoll_ctl' });
  assert.equal(systemFailure(-16), null);
  assert.equal(systemFailure(7), null);
});

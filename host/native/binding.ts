/**
 * The native engine's functions in the shared library (zig-src/abi/engine_exports.zig) and the
 * shared-memory layout. Both are written once here and checked at load against what the
 * library says of itself (core/boundary.ts): a library built from other sources is refused,
 * naming each difference.
 */
import { checkBindingNames, checkTables, enumItems } from '../core/boundary.js';
import { CORE_EXPORTS, CORE_ITEMS } from '../core/binding.js';
import { openNativeLibrary } from '../core/native-binding.js';
import { FLUSH_ON_CLOSE_MS } from '../engine/conn.js';

/** The layout this host is written for (zig-src/engine/layout.zig); checked at load. */
export const L = Object.freeze({
  record_words: 16,
  command_words: 8,
  records_max: 1024,
  commands_max: 4096,
  read_area_extra: 256 * 1024,
  record_open: 1,
  record_data: 2,
  record_close: 3,
  record_datagram: 4,
  record_writable: 5,
  record_end: 6,
  field_kind: 0,
  field_slot: 1,
  field_generation: 2,
  field_offset: 3,
  field_length: 4,
  field_aux: 5,
  field_aux2: 6,
  field_addr: 8,
  field_addr_bytes: 32,
  header_more: 0,
  header_chunk_consumed: 1,
  header_draining: 2,
  header_accept_errno: 3,
  header_generation: 4,
  header_accept_shed: 5,
  header_datagrams_refused: 6,
  header_datagrams_refused_errno: 7,
  command_write: 1,
  command_keep: 2,
  command_close: 3,
  command_pause_read: 4,
  command_resume_read: 5,
  command_watch: 6,
  command_end: 7,
  command_reply: 8,
  /** Zig's drain_timeout: the one flush-on-close bound (host/engine/conn.ts). */
  close_flush_ms: FLUSH_ON_CLOSE_MS,
  command_field_kind: 0,
  command_field_slot: 1,
  command_field_generation: 2,
  command_field_offset: 3,
  command_field_length: 4,
  command_field_source: 5,
  command_source_arena: 0,
  command_source_area: 1,
  syscall_none: 0,
  syscall_read: 1,
  syscall_write: 2,
  syscall_writev: 3,
  syscall_accept: 4,
  syscall_recvfrom: 5,
  syscall_sendto: 6,
  syscall_connect: 7,
  syscall_socket: 8,
  syscall_setsockopt: 9,
  syscall_bind: 10,
  syscall_listen: 11,
  syscall_epoll_create1: 12,
  syscall_epoll_ctl: 13,
  syscall_eventfd: 14,
  syscall_kqueue: 15,
  syscall_kevent: 16,
  syscall_fcntl: 17,
  syscall_getsockname: 18,
  syscall_getpeername: 19,
  syscall_shutdown: 20,
  syscall_tls: 21,
  system_base: 1 << 20,
  system_errno_limit: 1 << 12,
  // TLS (zig-src/abi/tls_exports.zig): why a handshake failed when OpenSSL has no error code
  // (those are all at least 2^tls_err_lib_shift), and the words before c.tls's texts.
  tls_failure_none: 0,
  tls_failure_peer_closed: 1,
  tls_failure_timeout: 2,
  tls_failure_out_of_memory: 3,
  tls_info_words: 6,
  tls_err_lib_shift: 23,
  // A refused certificate's error: the first value plus the X509_V_ERR_* verify result.
  tls_verify_failure_first: 1 << 16,
  tls_verify_failure_limit: (1 << 16) + 256,
});

/** The syscall a close record or a system result names, by its number in `L`. */
export const SYSCALL_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(L)
    .filter(([name]) => name.startsWith('syscall_') && name !== 'syscall_none')
    .map(([name, value]) => [value, name.slice('syscall_'.length)]),
);

export const NETWORK_IDS = { tcp: 0, udp: 1, unix: 2 } as const;
export const SOCKET_OPTION = { noDelay: 0, keepAlive: 1, linger: 2, recvBuffer: 3, sendBuffer: 4 } as const;
export const INBOUND_OP = { read: 0, peek: 1, discard: 2, buffered: 3 } as const;

/** The engine's named integers as zig-src/abi/engine_exports.zig `items` names them. */
export const ENGINE_ITEMS: Readonly<Record<string, number>> = {
  ...L,
  ...enumItems('network', NETWORK_IDS),
  ...enumItems('socket_option', SOCKET_OPTION),
  ...enumItems('inbound_op', INBOUND_OP),
};

/** The engine's exports (zig-src/abi/engine_exports.zig), in the native library only. */
export const ENGINE_EXPORTS = {
  zg_engine_option_name: 'const char *zg_engine_option_name(uint32_t)',
  zg_engine_read_area_size: 'uintptr_t zg_engine_read_area_size(uintptr_t)',
  zg_engine_new: 'intptr_t zg_engine_new(const int32_t *, uintptr_t, const uint8_t *, uintptr_t)',
  zg_engine_free: 'intptr_t zg_engine_free(int32_t)',
  zg_engine_listen: 'intptr_t zg_engine_listen(int32_t, uint32_t, const uint8_t *, uintptr_t, uint32_t, uint32_t)',
  zg_engine_listener_addr: 'intptr_t zg_engine_listener_addr(int32_t, uint32_t, uint8_t *, uintptr_t)',
  zg_engine_listener_fd: 'intptr_t zg_engine_listener_fd(int32_t, uint32_t)',
  zg_engine_start: 'intptr_t zg_engine_start(int32_t)',
  zg_loop_attach: 'intptr_t zg_loop_attach(int32_t, uint32_t, int32_t *, uintptr_t, uint8_t *, uintptr_t, int32_t *, uintptr_t, uint8_t *, uintptr_t)',
  zg_loop_fd: 'intptr_t zg_loop_fd(int32_t, uint32_t)',
  zg_loop_listener_fd: 'intptr_t zg_loop_listener_fd(int32_t, uint32_t, uint32_t)',
  zg_loop_register: 'intptr_t zg_loop_register(int32_t, uint32_t, uint32_t, const uint8_t *, uintptr_t, uint32_t)',
  zg_loop_enroll: 'intptr_t zg_loop_enroll(int32_t, uint32_t, int32_t, uint32_t)',
  zg_loop_drain: 'intptr_t zg_loop_drain(int32_t, uint32_t)',
  zg_loop_flush: 'intptr_t zg_loop_flush(int32_t, uint32_t, uint32_t)',
  zg_loop_reap: 'intptr_t zg_loop_reap(int32_t, uint32_t)',
  zg_loop_cut_off: 'intptr_t zg_loop_cut_off(int32_t, uint32_t)',
  zg_conn_write: 'intptr_t zg_conn_write(int32_t, uint32_t, uint32_t, uint32_t, const uint8_t *, uintptr_t)',
  zg_conn_flush: 'intptr_t zg_conn_flush(int32_t, uint32_t, uint32_t, uint32_t)',
  zg_conn_outbound: 'intptr_t zg_conn_outbound(int32_t, uint32_t, uint32_t, uint32_t)',
  zg_conn_inbound: 'intptr_t zg_conn_inbound(int32_t, uint32_t, uint32_t, uint32_t, uint32_t, uint8_t *, uintptr_t)',
  zg_conn_scan: 'intptr_t zg_conn_scan(int32_t, uint32_t, uint32_t, uint32_t, int32_t, uintptr_t, uint8_t *, uintptr_t, uintptr_t, int32_t *, uintptr_t, uintptr_t, uintptr_t, uint32_t)',
  zg_conn_addr: 'intptr_t zg_conn_addr(int32_t, uint32_t, uint32_t, uint32_t, uint32_t, uint8_t *, uintptr_t)',
  zg_datagram_addr: 'intptr_t zg_datagram_addr(int32_t, uint32_t, uint32_t, uint8_t *, uintptr_t)',
  zg_datagram_reply: 'intptr_t zg_datagram_reply(int32_t, uint32_t, uint32_t, const uint8_t *, uintptr_t)',
  zg_udp_sendto: 'intptr_t zg_udp_sendto(int32_t, const uint8_t *, uintptr_t, const uint8_t *, uintptr_t, uint32_t)',
  zg_udp_sendto_raw: 'intptr_t zg_udp_sendto_raw(int32_t, const uint8_t *, uintptr_t, const uint8_t *, uintptr_t)',
  zg_socket_setopt: 'intptr_t zg_socket_setopt(int32_t, uint32_t, int32_t, int32_t, int32_t, int32_t)',
  zg_socket_dup: 'intptr_t zg_socket_dup(int32_t)',
  zg_tls_available: 'intptr_t zg_tls_available()',
  zg_engine_tls_server: 'intptr_t zg_engine_tls_server(int32_t, uint32_t, uint32_t, const uint8_t *, uintptr_t)',
  zg_engine_tls_load: 'intptr_t zg_engine_tls_load(int32_t, const uint8_t *, uintptr_t, const uint8_t *, uintptr_t, const uint8_t *, uintptr_t, const uint8_t *, uintptr_t, const uint8_t *, uintptr_t)',
  zg_engine_tls_error: 'intptr_t zg_engine_tls_error(int32_t)',
  zg_conn_tls_dial:
    'intptr_t zg_conn_tls_dial(int32_t, uint32_t, uint32_t, uint32_t, uint32_t, const uint8_t *, uintptr_t, const uint8_t *, uintptr_t, const uint8_t *, uintptr_t, const uint8_t *, uintptr_t, const uint8_t *, uintptr_t, const uint8_t *, uintptr_t)',
  zg_conn_tls_info: 'intptr_t zg_conn_tls_info(int32_t, uint32_t, uint32_t, uint32_t, uint8_t *, uintptr_t)',
  zg_loop_tls_failures: 'intptr_t zg_loop_tls_failures(int32_t, uint32_t, int32_t *, uintptr_t)',
  zg_tls_error_text: 'intptr_t zg_tls_error_text(uint32_t, uint8_t *, uintptr_t)',
} as const;

/**
 * A system failure travels in the result (layout.zig `System`): at or below -system_base,
 * `-(system_base + syscall * errno_limit + errno)`. Null for a value or a status code.
 */
export function systemFailure(result: number): { errno: number; syscall: string } | null {
  if (result > -L.system_base) return null;
  const code = -result - L.system_base;
  const syscall = Math.floor(code / L.system_errno_limit);
  return { errno: code % L.system_errno_limit, syscall: SYSCALL_NAMES[syscall] ?? 'unknown' };
}

type F = (...args: never[]) => number;

/** The engine's functions under their exports' names (a trace reads the same on both sides). */
export interface EngineApi {
  /** The engine options in `zg_engine_new`'s order, read once through `zg_engine_option_name`. */
  optionNames: string[];
  zg_engine_read_area_size(cap: number): number;
  zg_engine_new(values: Int32Array, valuesLen: number, device: Buffer | null, deviceLen: number): number;
  zg_engine_free(e: number): number;
  zg_engine_listen(e: number, network: number, host: Buffer, hostLen: number, port: number, v6Only: number): number;
  zg_engine_listener_addr(e: number, index: number, out: Buffer, outLen: number): number;
  zg_engine_listener_fd(e: number, index: number): number;
  zg_engine_start(e: number): number;
  zg_loop_attach(e: number, loop: number, records: Int32Array, rl: number, area: Buffer, al: number, cmds: Int32Array, cl: number, arena: Buffer, arl: number): number;
  zg_loop_fd(e: number, loop: number): number;
  zg_loop_listener_fd(e: number, loop: number, index: number): number;
  zg_loop_register(e: number, loop: number, network: number, host: Buffer, hostLen: number, port: number): number;
  zg_loop_enroll(e: number, loop: number, fd: number, network: number): number;
  zg_udp_sendto_raw(fd: number, data: Uint8Array, len: number, addr: Uint8Array, addrLen: number): number;
  zg_loop_drain(e: number, loop: number): number;
  zg_loop_flush(e: number, loop: number, count: number): number;
  zg_loop_reap(e: number, loop: number): number;
  /** Draining connections cut off (no progress for the flush bound) since the last call. */
  zg_loop_cut_off(e: number, loop: number): number;
  zg_conn_write(e: number, loop: number, slot: number, gen: number, data: Uint8Array, len: number): number;
  zg_conn_flush(e: number, loop: number, slot: number, gen: number): number;
  zg_conn_outbound(e: number, loop: number, slot: number, gen: number): number;
  zg_conn_inbound(e: number, loop: number, slot: number, gen: number, op: number, out: Uint8Array | null, len: number): number;
  zg_conn_scan(
    e: number, loop: number, slot: number, gen: number, codec: number, ringDiscard: number,
    out: Uint8Array, outLen: number, outOffset: number, frames: Int32Array, framesLen: number,
    chunkOffset: number, chunkLen: number, resetHint: number,
  ): number;
  zg_conn_addr(e: number, loop: number, slot: number, gen: number, which: number, out: Buffer, outLen: number): number;
  zg_datagram_addr(e: number, loop: number, record: number, out: Buffer, outLen: number): number;
  zg_datagram_reply(e: number, loop: number, record: number, data: Uint8Array, len: number): number;
  zg_udp_sendto(fd: number, data: Uint8Array, len: number, host: Buffer, hostLen: number, port: number): number;
  zg_socket_setopt(fd: number, option: number, a: number, b: number, c: number, d: number): number;
  zg_socket_dup(fd: number): number;
  zg_tls_available(): number;
  zg_engine_tls_server(e: number, flags: number, handshakeTimeoutMs: number, alpn: Buffer, alpnLen: number): number;
  zg_engine_tls_load(
    e: number, name: Buffer, nameLen: number, cert: Buffer, certLen: number, key: Buffer, keyLen: number,
    pass: Buffer, passLen: number, ca: Buffer, caLen: number,
  ): number;
  zg_engine_tls_error(e: number): number;
  zg_conn_tls_dial(
    e: number, loop: number, slot: number, gen: number, flags: number, alpn: Buffer, alpnLen: number,
    servername: Buffer, servernameLen: number, cert: Buffer, certLen: number, key: Buffer, keyLen: number,
    pass: Buffer, passLen: number, ca: Buffer, caLen: number,
  ): number;
  zg_conn_tls_info(e: number, loop: number, slot: number, gen: number, out: Buffer, outLen: number): number;
  zg_loop_tls_failures(e: number, loop: number, out: Int32Array, outLen: number): number;
  zg_tls_error_text(code: number, out: Buffer, outLen: number): number;
}

/** The member of `EngineApi` that is a value; every other one is named as its export. */
export const ENGINE_API_DATA = ['optionNames'] as const;
// Compile-time: every function of EngineApi is an export of that name.
const engineNamesAreExports: Exclude<keyof EngineApi, (typeof ENGINE_API_DATA)[number]> extends keyof typeof ENGINE_EXPORTS ? true : never = true;
void engineNamesAreExports;

let api: EngineApi | undefined;

/** Loads (once) the engine functions; throws when the library's tables differ from this host's. */
export function engineApi(): EngineApi {
  if (api) return api;
  const { lib, tables } = openNativeLibrary();
  // The whole library: the core's part (checked by openNativeLibrary) and the engine's.
  const expected = { items: { ...CORE_ITEMS, ...ENGINE_ITEMS }, signatures: { ...CORE_EXPORTS, ...ENGINE_EXPORTS } };
  checkTables('the native library', tables, expected, true);
  const x = ENGINE_EXPORTS;
  const fn = (signature: string) => lib.func(signature) as F;
  const optionName = lib.func(x.zg_engine_option_name) as (i: number) => string | null;
  const optionNames: string[] = [];
  for (let i = 0; ; i++) {
    const name = optionName(i);
    if (name === null) break;
    optionNames.push(name);
  }
  // Each function under its export's own name, so that a trace reads the same on both sides.
  const functions = Object.fromEntries(
    Object.entries(x)
      .filter(([name]) => name !== 'zg_engine_option_name')
      .map(([name, signature]) => [name, lib.func(signature) as F]),
  );
  const loaded = { optionNames, ...functions } as EngineApi;
  checkBindingNames('the native engine binding', loaded, ENGINE_EXPORTS, ENGINE_API_DATA);
  api = loaded;
  return api;
}

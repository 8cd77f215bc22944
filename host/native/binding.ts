/**
 * The native engine's functions in the shared library (zig-src/abi/engine_exports.zig) and the
 * shared-memory layout, read from the library itself and checked against the constants this
 * host is compiled with: a library built from other sources is refused at load time.
 */
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
  field_kind: 0,
  field_slot: 1,
  field_generation: 2,
  field_offset: 3,
  field_length: 4,
  field_aux: 5,
  field_aux2: 6,
  field_addr: 8,
  header_more: 0,
  header_chunk_consumed: 1,
  header_draining: 2,
  header_accept_errno: 3,
  header_generation: 4,
  header_accept_shed: 5,
  command_write: 1,
  command_keep: 2,
  command_close: 3,
  command_pause_read: 4,
  command_resume_read: 5,
  command_watch: 6,
  /** Zig's drain_timeout: the one flush-on-close bound (host/engine/conn.ts). */
  close_flush_ms: FLUSH_ON_CLOSE_MS,
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
  command_source_arena: 0,
  command_source_area: 1,
  command_field_source: 5,
});

export const SYSCALL_NAMES: Record<number, string> = {
  [L.syscall_read]: 'read',
  [L.syscall_write]: 'write',
  [L.syscall_writev]: 'writev',
  [L.syscall_accept]: 'accept',
  [L.syscall_recvfrom]: 'recvfrom',
  [L.syscall_sendto]: 'sendto',
  [L.syscall_connect]: 'connect',
  [L.syscall_socket]: 'socket',
  [L.syscall_setsockopt]: 'setsockopt',
  [L.syscall_bind]: 'bind',
  [L.syscall_listen]: 'listen',
};

export const NETWORK_IDS = { tcp: 0, udp: 1, unix: 2 } as const;
export const SOCKET_OPTION = { noDelay: 0, keepAlive: 1, linger: 2, recvBuffer: 3, sendBuffer: 4 } as const;
export const INBOUND_OP = { read: 0, peek: 1, discard: 2, buffered: 3 } as const;

type F = (...args: never[]) => number;

export interface EngineApi {
  optionNames: string[];
  readAreaSize(cap: number): number;
  lastErrno(): number;
  lastSyscall(): number;
  engineNew(values: Int32Array, valuesLen: number, device: Buffer | null, deviceLen: number): number;
  engineFree(e: number): number;
  engineListen(e: number, network: number, host: Buffer, hostLen: number, port: number, v6Only: number): number;
  listenerAddr(e: number, index: number, out: Buffer, outLen: number): number;
  listenerFd(e: number, index: number): number;
  engineStart(e: number): number;
  loopAttach(e: number, loop: number, records: Int32Array, rl: number, area: Buffer, al: number, cmds: Int32Array, cl: number, arena: Buffer, arl: number): number;
  loopFd(e: number, loop: number): number;
  loopListenerFd(e: number, loop: number, index: number): number;
  loopRegister(e: number, loop: number, network: number, host: Buffer, hostLen: number, port: number): number;
  loopEnroll(e: number, loop: number, fd: number, network: number): number;
  udpSendtoRaw(fd: number, data: Uint8Array, len: number, addr: Uint8Array, addrLen: number): number;
  drain(e: number, loop: number): number;
  flush(e: number, loop: number, count: number): number;
  reap(e: number, loop: number): number;
  connWrite(e: number, loop: number, slot: number, gen: number, data: Uint8Array, len: number): number;
  connFlush(e: number, loop: number, slot: number, gen: number): number;
  connOutbound(e: number, loop: number, slot: number, gen: number): number;
  connInbound(e: number, loop: number, slot: number, gen: number, op: number, out: Uint8Array | null, len: number): number;
  connScan(
    e: number, loop: number, slot: number, gen: number, codec: number, ringDiscard: number,
    out: Uint8Array, outLen: number, outOffset: number, frames: Int32Array, framesLen: number,
    chunkOffset: number, chunkLen: number, resetHint: number,
  ): number;
  connAddr(e: number, loop: number, slot: number, gen: number, which: number, out: Buffer, outLen: number): number;
  datagramAddr(e: number, loop: number, record: number, out: Buffer, outLen: number): number;
  datagramReply(e: number, loop: number, record: number, data: Uint8Array, len: number): number;
  udpSendto(fd: number, data: Uint8Array, len: number, host: Buffer, hostLen: number, port: number): number;
  socketSetopt(fd: number, option: number, a: number, b: number, c: number, d: number): number;
  socketDup(fd: number): number;
}

let api: EngineApi | undefined;

/** Loads (once) the engine functions; throws when the library's layout differs from `L`. */
export function engineApi(): EngineApi {
  if (api) return api;
  const { lib } = openNativeLibrary();
  const fn = (signature: string) => lib.func(signature) as F;
  const layoutCount = fn('uint32_t zg_engine_layout_count()') as () => number;
  const layoutName = lib.func('const char *zg_engine_layout_name(uint32_t i)') as (i: number) => string | null;
  const layoutValue = fn('intptr_t zg_engine_layout(uint32_t i)') as (i: number) => number;
  const fromLibrary = new Map<string, number>();
  for (let i = 0; i < layoutCount(); i++) fromLibrary.set(layoutName(i)!, layoutValue(i));
  for (const [name, value] of Object.entries(L)) {
    if (fromLibrary.get(name) !== value) {
      throw new Error(`native library layout ${name} = ${fromLibrary.get(name)}, this host expects ${value}: rebuild with 'npm run build'`);
    }
  }
  if (fromLibrary.size !== Object.keys(L).length) throw new Error('native library layout has entries this host does not know: rebuild');
  const optionName = lib.func('const char *zg_engine_option_name(uint32_t i)') as (i: number) => string | null;
  const optionNames: string[] = [];
  for (let i = 0; ; i++) {
    const name = optionName(i);
    if (name === null) break;
    optionNames.push(name);
  }
  api = {
    optionNames,
    readAreaSize: fn('uintptr_t zg_engine_read_area_size(uintptr_t cap)') as EngineApi['readAreaSize'],
    lastErrno: fn('int32_t zg_last_errno()') as EngineApi['lastErrno'],
    lastSyscall: fn('int32_t zg_last_syscall()') as EngineApi['lastSyscall'],
    engineNew: fn('intptr_t zg_engine_new(const int32_t *values, uintptr_t len, const uint8_t *dev, uintptr_t dlen)') as EngineApi['engineNew'],
    engineFree: fn('intptr_t zg_engine_free(int32_t e)') as EngineApi['engineFree'],
    engineListen: fn('intptr_t zg_engine_listen(int32_t e, uint32_t net, const uint8_t *host, uintptr_t hlen, uint32_t port, uint32_t v6)') as EngineApi['engineListen'],
    listenerAddr: fn('intptr_t zg_engine_listener_addr(int32_t e, uint32_t i, uint8_t *out, uintptr_t len)') as EngineApi['listenerAddr'],
    listenerFd: fn('intptr_t zg_engine_listener_fd(int32_t e, uint32_t i)') as EngineApi['listenerFd'],
    engineStart: fn('intptr_t zg_engine_start(int32_t e)') as EngineApi['engineStart'],
    loopAttach: fn(
      'intptr_t zg_loop_attach(int32_t e, uint32_t loop, int32_t *rec, uintptr_t rl, uint8_t *area, uintptr_t al, int32_t *cmd, uintptr_t cl, uint8_t *arena, uintptr_t arl)',
    ) as EngineApi['loopAttach'],
    loopFd: fn('intptr_t zg_loop_fd(int32_t e, uint32_t loop)') as EngineApi['loopFd'],
    loopListenerFd: fn('intptr_t zg_loop_listener_fd(int32_t e, uint32_t loop, uint32_t i)') as EngineApi['loopListenerFd'],
    loopRegister: fn('intptr_t zg_loop_register(int32_t e, uint32_t loop, uint32_t net, const uint8_t *host, uintptr_t hlen, uint32_t port)') as EngineApi['loopRegister'],
    loopEnroll: fn('intptr_t zg_loop_enroll(int32_t e, uint32_t loop, int32_t fd, uint32_t net)') as EngineApi['loopEnroll'],
    udpSendtoRaw: fn('intptr_t zg_udp_sendto_raw(int32_t fd, const uint8_t *p, uintptr_t len, const uint8_t *addr, uintptr_t alen)') as EngineApi['udpSendtoRaw'],
    drain: fn('intptr_t zg_loop_drain(int32_t e, uint32_t loop)') as EngineApi['drain'],
    flush: fn('intptr_t zg_loop_flush(int32_t e, uint32_t loop, uint32_t count)') as EngineApi['flush'],
    reap: fn('intptr_t zg_loop_reap(int32_t e, uint32_t loop)') as EngineApi['reap'],
    connWrite: fn('intptr_t zg_conn_write(int32_t e, uint32_t loop, uint32_t slot, uint32_t gen, const uint8_t *p, uintptr_t len)') as EngineApi['connWrite'],
    connFlush: fn('intptr_t zg_conn_flush(int32_t e, uint32_t loop, uint32_t slot, uint32_t gen)') as EngineApi['connFlush'],
    connOutbound: fn('intptr_t zg_conn_outbound(int32_t e, uint32_t loop, uint32_t slot, uint32_t gen)') as EngineApi['connOutbound'],
    connInbound: fn('intptr_t zg_conn_inbound(int32_t e, uint32_t loop, uint32_t slot, uint32_t gen, uint32_t op, uint8_t *p, uintptr_t len)') as EngineApi['connInbound'],
    connScan: fn(
      'intptr_t zg_conn_scan(int32_t e, uint32_t loop, uint32_t slot, uint32_t gen, int32_t codec, uintptr_t discard, uint8_t *out, uintptr_t olen, uintptr_t ooff, int32_t *frames, uintptr_t flen, uintptr_t coff, uintptr_t clen, uint32_t reset)',
    ) as EngineApi['connScan'],
    connAddr: fn('intptr_t zg_conn_addr(int32_t e, uint32_t loop, uint32_t slot, uint32_t gen, uint32_t which, uint8_t *out, uintptr_t len)') as EngineApi['connAddr'],
    datagramAddr: fn('intptr_t zg_datagram_addr(int32_t e, uint32_t loop, uint32_t rec, uint8_t *out, uintptr_t len)') as EngineApi['datagramAddr'],
    datagramReply: fn('intptr_t zg_datagram_reply(int32_t e, uint32_t loop, uint32_t rec, const uint8_t *p, uintptr_t len)') as EngineApi['datagramReply'],
    udpSendto: fn('intptr_t zg_udp_sendto(int32_t fd, const uint8_t *p, uintptr_t len, const uint8_t *host, uintptr_t hlen, uint32_t port)') as EngineApi['udpSendto'],
    socketSetopt: fn('intptr_t zg_socket_setopt(int32_t fd, uint32_t opt, int32_t a, int32_t b, int32_t c, int32_t d)') as EngineApi['socketSetopt'],
    socketDup: fn('intptr_t zg_socket_dup(int32_t fd)') as EngineApi['socketDup'],
  };
  return api;
}

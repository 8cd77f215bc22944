//! The memory shared with the host, defined once. The host allocates these arrays (V8 backing
//! stores do not move) and passes their addresses at loop creation; it reads the constants
//! below through boundary.zig's item table and refuses to run when its own copy differs.
//!
//!   records  (i32 words): a header record, then `records_max` event records per drain
//!   area     (bytes):     the loop's read buffer: stream reads packed one after another,
//!                         then a slot per datagram of a batch (readBufferCap, 64 KiB at most)
//!   commands (i32 words): what the host's handlers asked for, executed in order by one flush
//!   arena    (bytes):     the bytes those write commands point into
const std = @import("std");
const assert = std.debug.assert;
const boundary = @import("../boundary.zig");
const Item = boundary.Item;
const syscall = @import("syscall.zig");
const Syscall = syscall.Syscall;
const System = syscall.System;

/// Words per event record and per command. 16 words leave room for a sockaddr_in6 (28 bytes).
pub const record_words = 16;
pub const command_words = 8;

/// Records per drain: as many as one epoll_wait returns (the poller's events_max), so each
/// ready connection gets its record; listeners use what is left.
pub const records_max = 1024;
/// Commands per flush: the host flushes when its array is full.
pub const commands_max = 4096;

/// Bytes of the read area beyond one full read of `readBufferCap`: room to pack many small
/// reads of different connections into one drain (500 echo connections × 64 B fit easily).
pub const read_area_extra = 256 * 1024;

/// How long a connection closed with unsent bytes may keep trying (gnet gives up at once;
/// we let a slow reader finish, within this bound). The host waits as long
/// (host/engine/conn.ts FLUSH_ON_CLOSE_MS): the one flush-on-close bound.
pub const close_flush_ms = 5000;

/// Datagrams one recvmmsg/sendmmsg takes at most: 64 puts a syscall's fixed cost below a
/// few percent of the batch's per-datagram work, while a drain's records (1024) still leave
/// room for every stream connection's events.
pub const datagram_batch_max = 64;
/// The address space of a loop's datagram slots. A datagram is received whole into a slot of
/// its own (the kernel cannot be told where the next one starts), so the slots are counted by
/// this bound: 16 at the default 64 KiB. Untouched pages cost no memory: a 64-byte datagram
/// makes one page of its slot resident.
pub const datagram_slots_bytes_max = 1024 * 1024;
/// No UDP datagram is longer: its length field has 16 bits (header included).
pub const datagram_bytes_max = 65_536;

/// The packed part of the area: stream reads (one full read of readBufferCap and the extra).
pub fn packedAreaSize(read_buffer_cap: usize) usize {
    return read_buffer_cap + read_area_extra;
}

/// A datagram slot: readBufferCap (gnet cuts a longer datagram to it), but never more than a
/// datagram can be, so a big readBufferCap does not grow the slots.
pub fn datagramSlotSize(read_buffer_cap: usize) usize {
    assert(read_buffer_cap > 0);
    return @min(read_buffer_cap, datagram_bytes_max);
}

/// Datagram slots per drain (at least one: a datagram of readBufferCap always fits).
pub fn datagramSlotsCount(read_buffer_cap: usize) usize {
    return std.math.clamp(datagram_slots_bytes_max / datagramSlotSize(read_buffer_cap), 1, datagram_batch_max);
}

pub fn readAreaSize(read_buffer_cap: usize) usize {
    return packedAreaSize(read_buffer_cap) + datagramSlotsCount(read_buffer_cap) * datagramSlotSize(read_buffer_cap);
}

pub const RecordKind = enum(i32) {
    /// A connection opened: slot, generation; aux = fd; aux2 = network.
    open = 1,
    /// Bytes arrived. aux == 0: they are area[offset..][0..length]; aux > 0: they were
    /// appended to the connection's inbound ring, which now holds aux bytes. aux2 = bytes in
    /// the outbound buffer (what `c.writable` starts from).
    data = 2,
    /// The connection is gone: aux = errno (0: end of stream; -1: closed locally), aux2 =
    /// the `Syscall` that failed; with syscall `tls`, length = the TLS failure (tls_io.zig).
    /// The host runs onClose and answers with a close command.
    close = 3,
    /// A UDP datagram at area[offset..][0..length] (one of the area's datagram slots); slot =
    /// the loop's listener index; aux2 = sockaddr length, the sockaddr itself in words
    /// addr..addr+8.
    datagram = 4,
    /// What a watch command waited for happened: the outbound buffer is at its low mark or
    /// below, or the watched bytes left for the kernel. aux = bytes in the outbound buffer,
    /// aux2 = bytes handed to the kernel so far (mod 2^32).
    writable = 5,
    /// The peer sent FIN (end of stream), after its last data record: the connection stays
    /// open and writable; reading it is over. The host runs onEnd, then closes or ends it.
    end = 6,
};

pub const Field = struct {
    pub const kind = 0;
    pub const slot = 1;
    pub const generation = 2;
    pub const offset = 3;
    pub const length = 4;
    pub const aux = 5;
    pub const aux2 = 6;
    pub const addr = 8;
    pub const addr_bytes = (record_words - addr) * 4;
};

/// The header record (record 0): what a drain or a decode reports besides its count.
pub const Header = struct {
    /// 1 when the drain stopped for lack of room while events remained: drain again.
    pub const more = 0;
    /// Bytes of the caller's chunk a decode consumed (after the inbound ring's bytes).
    pub const chunk_consumed = 1;
    /// Connections closed by the host that still hold outbound bytes (see `reap`).
    pub const draining = 2;
    /// errno of an accept that failed (the host logs it; accepting resumes at the next
    /// readiness: the engine never stops for it, unlike gnet's ErrAcceptSocket).
    pub const accept_errno = 3;
    /// The generation of the connection `zg_loop_register` / `zg_loop_enroll` just added.
    pub const generation = 4;
    /// Connections accepted and closed at once in this drain: the process was out of file
    /// descriptors (the reserve fd, acceptor.zig). The host logs them.
    pub const accept_shed = 5;
    /// Datagram replies the socket refused (full send buffer, too big, no route) and dropped
    /// since the last drain, and the errno of the last one: the host logs them.
    pub const datagrams_refused = 6;
    pub const datagrams_refused_errno = 7;
};

pub const CommandKind = enum(i32) {
    /// arena[offset..][0..length] to the connection (consecutive writes become one writev).
    write = 1,
    /// area[offset..][0..length] (what onTraffic left unread) into the inbound ring; from the
    /// arena when its source says so (bytes the host read before the engine had the socket).
    keep = 2,
    /// Close (after flushing what it can), or release a connection reported closed.
    close = 3,
    /// Stop reading the socket (the host's pauseRead, or its inbound high-water mark).
    pause_read = 4,
    resume_read = 5,
    /// Report a writable record once the outbound buffer holds at most `offset` bytes (-1:
    /// no mark), or (`source` word 1) once `length` bytes (mod 2^32) have left for the kernel.
    watch = 6,
    /// The host's `end()`: shut the write side (FIN) once the outbound buffer is empty.
    end = 7,
    /// A datagram to the sender of this drain's record `slot` (its listener's socket), the
    /// bytes at `offset`/`length` in `source`. Consecutive replies leave in one sendmmsg; a
    /// refused one is dropped and counted (Header.datagrams_refused).
    reply = 8,
};

/// The words of a command.
pub const CommandField = struct {
    pub const kind = 0;
    pub const slot = 1;
    pub const generation = 2;
    pub const offset = 3;
    pub const length = 4;
    /// A `CommandSource`.
    pub const source = 5;
};

/// Where a write or keep command's bytes are: the arena (copied there by the host), or the
/// read area (echoing a view of what was just read: no copy; the area is untouched until the
/// next drain, and every batch is flushed before that).
pub const CommandSource = enum(i32) { arena = 0, area = 1 };

/// Everything the host checks, by name (boundary.zig serves them; host/native/binding.ts `L`).
pub const items = [_]Item{
    .{ .name = "record_words", .value = record_words },
    .{ .name = "command_words", .value = command_words },
    .{ .name = "records_max", .value = records_max },
    .{ .name = "commands_max", .value = commands_max },
    .{ .name = "read_area_extra", .value = read_area_extra },
    .{ .name = "close_flush_ms", .value = close_flush_ms },
} ++ boundary.enumItems("record", RecordKind) ++
    boundary.declItems("field", Field) ++
    boundary.declItems("header", Header) ++
    boundary.enumItems("command", CommandKind) ++
    boundary.declItems("command_field", CommandField) ++
    boundary.enumItems("command_source", CommandSource) ++
    boundary.enumItems("syscall", Syscall) ++
    boundary.declItems("system", System);

comptime {
    assert(Field.addr_bytes >= @sizeOf(std.posix.sockaddr.in6));
    assert(Field.addr < record_words);
    assert(CommandField.source < command_words);
    assert(Header.datagrams_refused_errno < record_words);
    assert(datagram_batch_max <= records_max);
    // The most negative system result still fits the i32 a wasm-sized host reads.
    assert(System.base + @typeInfo(Syscall).@"enum".fields.len * System.errno_limit < std.math.maxInt(i32));
}

test "layout: datagram slots hold any datagram readBufferCap lets through, within their bound" {
    const T = struct { cap: usize, size: usize, count: usize };
    for ([_]T{
        .{ .cap = 64 * 1024, .size = 64 * 1024, .count = 16 },
        .{ .cap = 2048, .size = 2048, .count = datagram_batch_max },
        .{ .cap = 16, .size = 16, .count = datagram_batch_max },
        .{ .cap = 1 << 30, .size = datagram_bytes_max, .count = 16 },
        .{ .cap = 3 * 1024 * 1024, .size = datagram_bytes_max, .count = 16 },
    }) |t| {
        try std.testing.expectEqual(t.size, datagramSlotSize(t.cap));
        try std.testing.expectEqual(t.count, datagramSlotsCount(t.cap));
        try std.testing.expect(datagramSlotsCount(t.cap) * datagramSlotSize(t.cap) <= datagram_slots_bytes_max);
        try std.testing.expectEqual(packedAreaSize(t.cap) + t.size * t.count, readAreaSize(t.cap));
    }
}

//! The memory shared with the host, defined once. The host allocates these arrays (V8 backing
//! stores do not move) and passes their addresses at loop creation; it reads the constants
//! below through `zg_engine_layout` and refuses to run when its own copy differs.
//!
//!   records  (i32 words): a header record, then `records_max` event records per drain
//!   area     (bytes):     the loop's read buffer; reads are packed one after another
//!   commands (i32 words): what the host's handlers asked for, executed in order by one flush
//!   arena    (bytes):     the bytes those write commands point into
const std = @import("std");

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

pub fn readAreaSize(read_buffer_cap: usize) usize {
    return read_buffer_cap + read_area_extra;
}

pub const RecordKind = enum(i32) {
    /// A connection opened: slot, generation; aux = fd; aux2 = network.
    open = 1,
    /// Bytes arrived. aux == 0: they are area[offset..][0..length]; aux > 0: they were
    /// appended to the connection's inbound ring, which now holds aux bytes. aux2 = bytes in
    /// the outbound buffer (what `c.writable` starts from).
    data = 2,
    /// The connection is gone: aux = errno (0: end of stream; -1: closed locally), aux2 =
    /// the `Syscall` that failed. The host runs onClose and answers with a close command.
    close = 3,
    /// A UDP datagram at area[offset..][0..length]; slot = the loop's listener index;
    /// aux2 = sockaddr length, the sockaddr itself in words addr..addr+8.
    datagram = 4,
    /// What a watch command waited for happened: the outbound buffer is at its low mark or
    /// below, or the watched bytes left for the kernel. aux = bytes in the outbound buffer,
    /// aux2 = bytes handed to the kernel so far (mod 2^32).
    writable = 5,
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
    /// errno of an accept that failed for good (gnet's ErrAcceptSocket: the engine stops).
    pub const accept_errno = 3;
    /// The generation of the connection `zg_loop_register` / `zg_loop_enroll` just added.
    pub const generation = 4;
    /// Connections accepted and closed at once since the last drain: the process was out of
    /// file descriptors (the reserve fd trick, acceptor.zig). The host logs them.
    pub const accept_shed = 5;
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
    /// no mark), or (source field 1) once `length` bytes (mod 2^32) have left for the kernel.
    watch = 6,
};

/// Where a write or keep command's bytes are: the arena (copied there by the host), or the
/// read area (echoing a view of what was just read: no copy; the area is untouched until the
/// next drain, and every batch is flushed before that).
pub const CommandSource = struct {
    pub const field = 5;
    pub const arena = 0;
    pub const area = 1;
};

pub const Syscall = enum(i32) { none = 0, read = 1, write = 2, writev = 3, accept = 4, recvfrom = 5, sendto = 6, connect = 7, socket = 8, setsockopt = 9, bind = 10, listen = 11 };

pub const Item = struct { name: [:0]const u8, value: i64 };

/// Everything the host checks, by name.
pub const items = [_]Item{
    .{ .name = "record_words", .value = record_words },
    .{ .name = "command_words", .value = command_words },
    .{ .name = "records_max", .value = records_max },
    .{ .name = "commands_max", .value = commands_max },
    .{ .name = "read_area_extra", .value = read_area_extra },
    .{ .name = "record_open", .value = @intFromEnum(RecordKind.open) },
    .{ .name = "record_data", .value = @intFromEnum(RecordKind.data) },
    .{ .name = "record_close", .value = @intFromEnum(RecordKind.close) },
    .{ .name = "record_datagram", .value = @intFromEnum(RecordKind.datagram) },
    .{ .name = "record_writable", .value = @intFromEnum(RecordKind.writable) },
    .{ .name = "field_kind", .value = Field.kind },
    .{ .name = "field_slot", .value = Field.slot },
    .{ .name = "field_generation", .value = Field.generation },
    .{ .name = "field_offset", .value = Field.offset },
    .{ .name = "field_length", .value = Field.length },
    .{ .name = "field_aux", .value = Field.aux },
    .{ .name = "field_aux2", .value = Field.aux2 },
    .{ .name = "field_addr", .value = Field.addr },
    .{ .name = "header_more", .value = Header.more },
    .{ .name = "header_chunk_consumed", .value = Header.chunk_consumed },
    .{ .name = "header_draining", .value = Header.draining },
    .{ .name = "header_accept_errno", .value = Header.accept_errno },
    .{ .name = "header_generation", .value = Header.generation },
    .{ .name = "header_accept_shed", .value = Header.accept_shed },
    .{ .name = "command_write", .value = @intFromEnum(CommandKind.write) },
    .{ .name = "command_keep", .value = @intFromEnum(CommandKind.keep) },
    .{ .name = "command_close", .value = @intFromEnum(CommandKind.close) },
    .{ .name = "command_pause_read", .value = @intFromEnum(CommandKind.pause_read) },
    .{ .name = "command_resume_read", .value = @intFromEnum(CommandKind.resume_read) },
    .{ .name = "command_watch", .value = @intFromEnum(CommandKind.watch) },
    .{ .name = "close_flush_ms", .value = @import("event_loop.zig").drain_timeout_ns / std.time.ns_per_ms },
    .{ .name = "syscall_read", .value = @intFromEnum(Syscall.read) },
    .{ .name = "syscall_write", .value = @intFromEnum(Syscall.write) },
    .{ .name = "syscall_writev", .value = @intFromEnum(Syscall.writev) },
    .{ .name = "syscall_accept", .value = @intFromEnum(Syscall.accept) },
    .{ .name = "syscall_recvfrom", .value = @intFromEnum(Syscall.recvfrom) },
    .{ .name = "syscall_sendto", .value = @intFromEnum(Syscall.sendto) },
    .{ .name = "syscall_connect", .value = @intFromEnum(Syscall.connect) },
    .{ .name = "syscall_socket", .value = @intFromEnum(Syscall.socket) },
    .{ .name = "syscall_setsockopt", .value = @intFromEnum(Syscall.setsockopt) },
    .{ .name = "syscall_bind", .value = @intFromEnum(Syscall.bind) },
    .{ .name = "syscall_listen", .value = @intFromEnum(Syscall.listen) },
    .{ .name = "command_source_arena", .value = CommandSource.arena },
    .{ .name = "command_source_area", .value = CommandSource.area },
    .{ .name = "command_field_source", .value = CommandSource.field },
};

comptime {
    std.debug.assert(Field.addr_bytes >= @sizeOf(std.posix.sockaddr.in6));
    std.debug.assert(Field.addr < record_words);
    std.debug.assert(records_max >= @import("poller.zig").events_max);
}

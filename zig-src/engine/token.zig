//! What a poller token names. A connection's token is its generation above and its slot below
//! (Connection.token); a listener's has the top bit of the low word set, which no connection's
//! has (slots stay below it); the wake source has poller.wake_token. A leaf, so that the
//! connection, the loop and the acceptor agree without importing one another.
const std = @import("std");
const assert = std.debug.assert;

/// Set in the low word of a listener's token only.
pub const listener_flag: u64 = 1 << 31;

/// Connection slots stay below the listener flag, so a connection's token never reads as a
/// listener's.
pub const slots_max: u32 = @intCast(listener_flag);

pub fn listener(index: u32) u64 {
    assert(index < listener_flag);
    return listener_flag | index;
}

/// The listener index a token's low word names, or null when it names a connection.
pub fn listenerIndex(low: u32) ?u32 {
    if (low & listener_flag == 0) return null;
    const index = low & ~@as(u32, @intCast(listener_flag));
    assert(index < listener_flag);
    return index;
}

test "token: a listener's token reads back as its index, a connection's low word does not" {
    try std.testing.expectEqual(@as(?u32, 5), listenerIndex(@truncate(listener(5))));
    try std.testing.expectEqual(@as(?u32, null), listenerIndex(slots_max - 1));
}

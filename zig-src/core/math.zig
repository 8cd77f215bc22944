//! Small integer helpers shared by buffers and options.
const std = @import("std");
const assert = std.debug.assert;

/// Smallest power of two >= n (n = 0 gives 1), as gnet's `CeilToPowerOfTwo`.
/// Saturates at the largest power of two a usize holds.
pub fn ceilToPowerOfTwo(n: usize) usize {
    const max_pow: usize = @as(usize, 1) << (@bitSizeOf(usize) - 1);
    if (n <= 1) return 1;
    if (n > max_pow) return max_pow;
    const result = std.math.ceilPowerOfTwoAssert(usize, n);
    assert(result >= n and result < 2 * n);
    return result;
}

/// gnet's normalisation of ReadBufferCap/WriteBufferCap: <= 0 → 64 KiB, <= 1024 → 1024,
/// otherwise rounded up to a power of two.
pub fn normalizeBufferCap(cap: i64) usize {
    if (cap <= 0) return 64 * 1024;
    if (cap <= 1024) return 1024;
    return ceilToPowerOfTwo(@intCast(cap));
}

test "ceilToPowerOfTwo: powers stay, others round up" {
    try std.testing.expectEqual(@as(usize, 1), ceilToPowerOfTwo(0));
    try std.testing.expectEqual(@as(usize, 1024), ceilToPowerOfTwo(1024));
    try std.testing.expectEqual(@as(usize, 2048), ceilToPowerOfTwo(1025));
    try std.testing.expectEqual(@as(usize, 2048), ceilToPowerOfTwo(2000));
}

test "normalizeBufferCap: gnet's rule" {
    try std.testing.expectEqual(@as(usize, 65536), normalizeBufferCap(0));
    try std.testing.expectEqual(@as(usize, 65536), normalizeBufferCap(-5));
    try std.testing.expectEqual(@as(usize, 1024), normalizeBufferCap(1));
    try std.testing.expectEqual(@as(usize, 2048), normalizeBufferCap(2000));
}

//! `zig build test` also runs this: the rules the Zig sources hold to, checked on the files
//! themselves so that a lapse fails the build rather than a review.
//!   - no bare `catch {}`: every swallowed error is named in a switch that says why;
//!   - no leftover FIXME/TODO/XXX markers;
//!   - lines of the engine and ABI (the files this checker was written for) within
//!     `line_length_max`;
//!   - assertion density of zig-src/engine and zig-src/abi (assertions per non-test function)
//!     at least `assertion_density_min`, the core's discipline (about two per function in
//!     TigerBeetle; the core here is near one).
const std = @import("std");
const assert = std.debug.assert;
const options = @import("tidy_options");

const line_length_max = 140;
const assertion_density_min = 0.7;
/// Source files are small; a bigger one is a mistake worth a failure of its own.
const file_bytes_max = 256 * 1024;
/// Directories walked: every Zig file under zig-src/.
const dir_depth_max = 8;

const Counts = struct { functions: usize = 0, assertions: usize = 0 };

/// Counts functions and `assert(` calls outside `test` blocks. Comments are ignored; a
/// top-level `test` block ends where its braces balance.
fn countFile(source: []const u8) Counts {
    var counts: Counts = .{};
    var depth: isize = 0;
    var in_test = false;
    var lines = std.mem.splitScalar(u8, source, '\n');
    while (lines.next()) |line| {
        const code = if (std.mem.indexOf(u8, line, "//")) |i| line[0..i] else line;
        const trimmed = std.mem.trimLeft(u8, code, " ");
        if (depth == 0 and std.mem.startsWith(u8, trimmed, "test ")) in_test = true;
        if (!in_test) {
            counts.functions += countFunctions(code);
            counts.assertions += std.mem.count(u8, code, "assert(");
        }
        depth += @as(isize, @intCast(std.mem.count(u8, code, "{"))) - @as(isize, @intCast(std.mem.count(u8, code, "}")));
        if (in_test and depth == 0) in_test = false;
    }
    return counts;
}

/// `fn name(` declarations (not `fn (` types).
fn countFunctions(code: []const u8) usize {
    var count: usize = 0;
    var rest = code;
    while (std.mem.indexOf(u8, rest, "fn ")) |i| {
        const before_ok = i == 0 or !std.ascii.isAlphanumeric(rest[i - 1]) and rest[i - 1] != '_';
        const after = rest[i + 3 ..];
        const named = after.len > 0 and (std.ascii.isAlphabetic(after[0]) or after[0] == '_');
        if (before_ok and named) count += 1;
        rest = after;
    }
    return count;
}

const Failure = struct { path: []const u8, line: usize, what: []const u8 };

test "tidy: no bare catch {}, no FIXME, short lines, assertion density of engine and abi" {
    const gpa = std.testing.allocator;
    var dir = try std.fs.openDirAbsolute(options.src_dir, .{ .iterate = true });
    defer dir.close();
    var walker = try dir.walk(gpa);
    defer walker.deinit();
    var failures: usize = 0;
    var seam: Counts = .{};
    var files: usize = 0;
    while (try walker.next()) |entry| {
        if (entry.kind != .file or !std.mem.endsWith(u8, entry.path, ".zig")) continue;
        assert(std.mem.count(u8, entry.path, "/") < dir_depth_max);
        files += 1;
        const source = try dir.readFileAlloc(gpa, entry.path, file_bytes_max);
        defer gpa.free(source);
        const seam_file = std.mem.startsWith(u8, entry.path, "engine/") or std.mem.startsWith(u8, entry.path, "abi/");
        // This file names the markers it looks for.
        const self = std.mem.eql(u8, entry.path, "tidy.zig");
        var lines = std.mem.splitScalar(u8, source, '\n');
        var number: usize = 0;
        while (lines.next()) |line| {
            number += 1;
            const problem: ?[]const u8 = if (!self and std.mem.indexOf(u8, line, "catch " ++ "{}") != null)
                "a bare catch {}: switch on the error and say why it is harmless"
            else if (!self and (std.mem.indexOf(u8, line, "FIX" ++ "ME") != null or
                std.mem.indexOf(u8, line, "TO" ++ "DO") != null or std.mem.indexOf(u8, line, "XX" ++ "X") != null))
                "a leftover marker"
            else if (seam_file and line.len > line_length_max)
                "a line longer than line_length_max"
            else
                null;
            if (problem) |what| {
                std.debug.print("tidy: zig-src/{s}:{d}: {s}\n", .{ entry.path, number, what });
                failures += 1;
            }
        }
        const test_file = std.mem.eql(u8, entry.path, "abi/engine_tests.zig") or std.mem.eql(u8, entry.path, "engine/test_host.zig");
        if (seam_file and !test_file) {
            const counts = countFile(source);
            seam.functions += counts.functions;
            seam.assertions += counts.assertions;
        }
    }
    try std.testing.expect(files > 0);
    const density = @as(f64, @floatFromInt(seam.assertions)) / @as(f64, @floatFromInt(@max(seam.functions, 1)));
    if (density < assertion_density_min) {
        std.debug.print("tidy: engine+abi: {d} assertions / {d} functions = {d:.2} < {d:.2}\n", .{
            seam.assertions, seam.functions, density, assertion_density_min,
        });
        failures += 1;
    }
    try std.testing.expectEqual(@as(usize, 0), failures);
}

test "tidy: the counter counts functions and assertions, not tests or comments" {
    const source =
        \\fn a(x: u32) void {
        \\    assert(x > 0); // assert(comment)
        \\    const f: *const fn (u32) void = a;
        \\}
        \\test "t" {
        \\    fn inner() void {}
        \\    assert(true);
        \\}
        \\pub fn b() void {
        \\    assert(true);
        \\    assert(true);
        \\}
    ;
    const counts = countFile(source);
    try std.testing.expectEqual(@as(usize, 2), counts.functions);
    try std.testing.expectEqual(@as(usize, 3), counts.assertions);
}

//! `zig build test` also runs this: the rules the Zig sources hold to, checked on the files
//! themselves so that a lapse fails the build rather than a review.
//!   - no bare `catch {}`: every swallowed error is named in a switch that says why;
//!   - no leftover FIXME/TODO/XXX markers;
//!   - lines of the engine and ABI (the files this checker was written for) within
//!     `line_length_max`;
//!   - assertion density of zig-src/engine and zig-src/abi (assertions per non-test function)
//!     at least `assertion_density_min`, the core's discipline (about two per function in
//!     TigerBeetle; the core here is near one);
//!   - the engine, the ABI and the tables beneath them import without cycles, and nothing in
//!     engine/ imports abi/ (each layer builds on the ones below it only).
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

/// Files whose imports form the layering checked below: the engine, the ABI and the tables
/// beneath both. (The core's codec files import their registry and back; not held to it yet.)
fn layered(path: []const u8) bool {
    return std.mem.startsWith(u8, path, "engine/") or std.mem.startsWith(u8, path, "abi/") or
        std.mem.eql(u8, path, "boundary.zig");
}

/// Test support sits above everything it tests: imports below the tests marker (or the first
/// top-level test) are not part of a file's layer.
fn productionPart(source: []const u8) []const u8 {
    const marker = std.mem.indexOf(u8, source, "\n// ---- tests") orelse source.len;
    const first_test = std.mem.indexOf(u8, source, "\ntest \"") orelse source.len;
    return source[0..@min(marker, first_test)];
}

const Node = struct { path: []const u8, imports: std.ArrayListUnmanaged([]const u8) = .{} };

/// Depth-first search over `nodes`: true (and the cycle printed) when `index` reaches a node
/// still on the stack. `color`: 0 unseen, 1 on the stack, 2 done.
fn reachesCycle(nodes: []const Node, color: []u8, index: usize) bool {
    assert(index < nodes.len);
    assert(color[index] == 0);
    color[index] = 1;
    for (nodes[index].imports.items) |import_path| {
        const target = for (nodes, 0..) |node, i| {
            if (std.mem.eql(u8, node.path, import_path)) break i;
        } else continue;
        if (color[target] == 1 or (color[target] == 0 and reachesCycle(nodes, color, target))) {
            std.debug.print("tidy: import cycle through zig-src/{s} -> zig-src/{s}\n", .{ nodes[index].path, import_path });
            return true;
        }
    }
    color[index] = 2;
    return false;
}

test "tidy: engine and abi import without cycles, and nothing in engine/ imports abi/" {
    var arena_state = std.heap.ArenaAllocator.init(std.testing.allocator);
    defer arena_state.deinit();
    const arena = arena_state.allocator();
    var dir = try std.fs.openDirAbsolute(options.src_dir, .{ .iterate = true });
    defer dir.close();
    var walker = try dir.walk(std.testing.allocator);
    defer walker.deinit();
    var nodes: std.ArrayListUnmanaged(Node) = .{};
    var failures: usize = 0;
    while (try walker.next()) |entry| {
        if (entry.kind != .file or !std.mem.endsWith(u8, entry.path, ".zig") or !layered(entry.path)) continue;
        const source = try dir.readFileAlloc(arena, entry.path, file_bytes_max);
        var node: Node = .{ .path = try arena.dupe(u8, entry.path) };
        const dir_name = std.fs.path.dirnamePosix(node.path) orelse "";
        var rest = productionPart(source);
        while (std.mem.indexOf(u8, rest, "@import(\"")) |at| {
            rest = rest[at + "@import(\"".len ..];
            const end = std.mem.indexOfScalar(u8, rest, '"') orelse break;
            const name = rest[0..end];
            if (!std.mem.endsWith(u8, name, ".zig")) continue;
            const resolved = try std.fs.path.resolvePosix(arena, &.{ dir_name, name });
            if (std.mem.startsWith(u8, node.path, "engine/") and std.mem.startsWith(u8, resolved, "abi/")) {
                std.debug.print("tidy: zig-src/{s} imports zig-src/{s}: the engine sits below the ABI\n", .{ node.path, resolved });
                failures += 1;
            }
            try node.imports.append(arena, resolved);
        }
        try nodes.append(arena, node);
    }
    try std.testing.expect(nodes.items.len > 10);
    const color = try arena.alloc(u8, nodes.items.len);
    @memset(color, 0);
    for (0..nodes.items.len) |i| {
        if (color[i] == 0 and reachesCycle(nodes.items, color, i)) failures += 1;
    }
    try std.testing.expectEqual(@as(usize, 0), failures);
}

test "tidy: the layering check stops at the tests marker" {
    const source = "const a = @import(\"a.zig\");\n// ---- tests\nconst b = @import(\"b.zig\");\n";
    try std.testing.expect(std.mem.indexOf(u8, productionPart(source), "b.zig") == null);
    try std.testing.expect(std.mem.indexOf(u8, productionPart(source), "a.zig") != null);
}

//! `zig build test` also runs this: the rules the Zig sources hold to, checked on the files
//! themselves so that a lapse fails the build rather than a review.
//!   - no bare `catch {}`: every swallowed error is named in a switch that says why;
//!   - no leftover FIXME/TODO/XXX markers;
//!   - lines of the engine and ABI (the files this checker was written for) within
//!     `line_length_max`;
//!   - assertion density (assertions per non-test function) of each of zig-src/core,
//!     zig-src/engine and zig-src/abi at least `assertion_density_min`, reported per folder
//!     (TigerBeetle asks about two per function; one folder may not lean on another's);
//!   - every non-test function at most `function_lines_max` lines (TigerBeetle's limit: a
//!     function that fits on a screen is read whole), unless `long_functions_allowed` names it
//!     with its reason;
//!   - the engine, the ABI and the tables beneath them import without cycles, and nothing in
//!     engine/ imports abi/ (each layer builds on the ones below it only).
const std = @import("std");
const assert = std.debug.assert;
const options = @import("tidy_options");

const line_length_max = 140;
/// Lines are read into a buffer of this size with literals blanked; the longest line in the
/// tree is near 220 bytes.
const line_bytes_max = 1024;
const assertion_density_min = 0.7;
const function_lines_max = 70;
/// Source files are small; a bigger one is a mistake worth a failure of its own.
const file_bytes_max = 256 * 1024;
/// Directories walked: every Zig file under zig-src/.
const dir_depth_max = 8;
/// Functions found longer than `function_lines_max` in one file before the check stops
/// listing them (one is already a failure).
const long_functions_max = 16;

/// The folders held to `assertion_density_min`, each on its own.
const density_folders = [_][]const u8{ "core/", "engine/", "abi/" };
/// Test support outside `test` blocks: not counted for density (they are tests' helpers).
const test_support_files = [_][]const u8{ "abi/engine_tests.zig", "engine/test_host.zig" };

/// Functions allowed past `function_lines_max`, each with the reason it is better whole.
/// An entry that no longer needs its exception fails the check, so the list stays true.
const long_functions_allowed = [_]struct { path: []const u8, name: []const u8, reason: []const u8 }{};

/// `line` without its comment, and with the contents of string and character literals
/// blanked (a `"{"` or `'}'` must not move the brace depth, a `"//"` must not start a
/// comment). A multiline-string line (`\\...`) is all literal. The result lives in `out`.
fn codeOf(line: []const u8, out: *[line_bytes_max]u8) []const u8 {
    assert(line.len <= out.len);
    if (std.mem.startsWith(u8, std.mem.trimLeft(u8, line, " "), "\\\\")) return out[0..0];
    var len: usize = 0;
    var i: usize = 0;
    // Bounded by the line: every round moves `i` forward.
    while (i < line.len) {
        const c = line[i];
        if (c == '/' and i + 1 < line.len and line[i + 1] == '/') break;
        out[len] = c;
        len += 1;
        i += 1;
        if (c != '"' and c != '\'') continue;
        // Skip to the closing quote; an escape skips the character after it.
        while (i < line.len and line[i] != c) : (i += 1) {
            if (line[i] == '\\') i += 1;
        }
        if (i < line.len) {
            out[len] = c;
            len += 1;
            i += 1;
        }
    }
    assert(len <= line.len);
    return out[0..len];
}

const LongFunction = struct { name: []const u8, line: usize, lines: usize };

const Counts = struct {
    functions: usize = 0,
    assertions: usize = 0,
    long: [long_functions_max]LongFunction = undefined,
    long_count: usize = 0,
};

/// The function being measured: where its declaration started, the brace depth around it,
/// and whether its body has opened yet (a signature may span lines).
const Open = struct { name: []const u8, line: usize, depth: isize, body: bool };

/// Counts functions and `assert(` calls outside `test` blocks and measures each function's
/// length. Comments and literals are ignored; a top-level `test` block ends where its braces
/// balance. A function returning `type` is a generic container, not measured as one function:
/// its own functions are.
fn countFile(source: []const u8) Counts {
    var counts: Counts = .{};
    var depth: isize = 0;
    var in_test = false;
    var open: ?Open = null;
    var buffer: [line_bytes_max]u8 = undefined;
    var lines = std.mem.splitScalar(u8, source, '\n');
    var number: usize = 0;
    while (lines.next()) |line| {
        number += 1;
        const code = codeOf(line[0..@min(line.len, line_bytes_max)], &buffer);
        const trimmed = std.mem.trimLeft(u8, code, " ");
        if (depth == 0 and std.mem.startsWith(u8, trimmed, "test ")) in_test = true;
        const functions = countFunctions(code);
        if (!in_test) {
            counts.functions += functions;
            counts.assertions += std.mem.count(u8, code, "assert(");
            if (open == null and functions > 0 and std.mem.indexOf(u8, code, ") type {") == null) {
                open = .{ .name = functionName(line), .line = number, .depth = depth, .body = false };
            }
        }
        depth += @as(isize, @intCast(std.mem.count(u8, code, "{"))) - @as(isize, @intCast(std.mem.count(u8, code, "}")));
        if (open) |*f| measure(&counts, f, &open, code, depth, number);
        if (in_test and depth == 0) in_test = false;
    }
    assert(depth == 0 or source.len == 0 or open == null);
    return counts;
}

/// One line of the open function: its body opens, or it ends (recorded when too long), or a
/// declaration without a body (`extern fn ...;`) closes it unmeasured.
fn measure(counts: *Counts, f: *Open, open: *?Open, code: []const u8, depth: isize, number: usize) void {
    assert(number >= f.line);
    if (!f.body) {
        if (depth > f.depth) {
            f.body = true;
            return;
        }
        // A one-line function, or a prototype: nothing to measure.
        if (std.mem.indexOfScalar(u8, code, '{') != null or std.mem.endsWith(u8, std.mem.trimRight(u8, code, " "), ";")) open.* = null;
        return;
    }
    if (depth > f.depth) return;
    const lines = number - f.line + 1;
    if (lines > function_lines_max and counts.long_count < counts.long.len) {
        counts.long[counts.long_count] = .{ .name = f.name, .line = f.line, .lines = lines };
        counts.long_count += 1;
    }
    open.* = null;
}

/// The name after the first `fn ` of a declaration line (the line itself, not the blanked
/// copy, so the slice outlives the scan's buffer).
fn functionName(line: []const u8) []const u8 {
    const at = std.mem.indexOf(u8, line, "fn ") orelse return "";
    const rest = line[at + 3 ..];
    const end = std.mem.indexOfScalar(u8, rest, '(') orelse rest.len;
    assert(end <= rest.len);
    return rest[0..end];
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

fn allowedLong(path: []const u8, name: []const u8) bool {
    for (long_functions_allowed) |entry| {
        assert(entry.reason.len > 0);
        if (std.mem.eql(u8, entry.path, path) and std.mem.eql(u8, entry.name, name)) return true;
    }
    return false;
}

fn inList(list: []const []const u8, path: []const u8) bool {
    for (list) |item| {
        if (std.mem.eql(u8, item, path)) return true;
    }
    return false;
}

/// The per-line rules: a bare catch, a leftover marker, a long line in the engine or ABI.
fn lineProblem(path: []const u8, line: []const u8) ?[]const u8 {
    // This file names the markers it looks for.
    if (std.mem.eql(u8, path, "tidy.zig")) return null;
    const seam_file = std.mem.startsWith(u8, path, "engine/") or std.mem.startsWith(u8, path, "abi/");
    if (std.mem.indexOf(u8, line, "catch " ++ "{}") != null) return "a bare catch {}: switch on the error and say why it is harmless";
    if (std.mem.indexOf(u8, line, "FIX" ++ "ME") != null or std.mem.indexOf(u8, line, "TO" ++ "DO") != null or
        std.mem.indexOf(u8, line, "XX" ++ "X") != null) return "a leftover marker";
    if (seam_file and line.len > line_length_max) return "a line longer than line_length_max";
    if (line.len > line_bytes_max) return "a line longer than line_bytes_max (the checker's buffer)";
    return null;
}

/// Prints and counts the functions of one file that are too long and not allowed; counts the
/// allowed ones found in `allowed_seen`.
fn longFunctionFailures(path: []const u8, counts: *const Counts, allowed_seen: *usize) usize {
    assert(counts.long_count <= counts.long.len);
    var failures: usize = 0;
    for (counts.long[0..counts.long_count]) |f| {
        if (allowedLong(path, f.name)) {
            allowed_seen.* += 1;
            continue;
        }
        std.debug.print("tidy: zig-src/{s}:{d}: fn {s} is {d} lines > {d}: split it by job (or name it in long_functions_allowed with why)\n", .{
            path, f.line, f.name, f.lines, function_lines_max,
        });
        failures += 1;
    }
    return failures;
}

test "tidy: no bare catch {}, no FIXME, short lines and functions, assertion density per folder" {
    const gpa = std.testing.allocator;
    var dir = try std.fs.openDirAbsolute(options.src_dir, .{ .iterate = true });
    defer dir.close();
    var walker = try dir.walk(gpa);
    defer walker.deinit();
    var failures: usize = 0;
    var folders = [_]Counts{.{}} ** density_folders.len;
    var files: usize = 0;
    var allowed_seen: usize = 0;
    while (try walker.next()) |entry| {
        if (entry.kind != .file or !std.mem.endsWith(u8, entry.path, ".zig")) continue;
        assert(std.mem.count(u8, entry.path, "/") < dir_depth_max);
        files += 1;
        const source = try dir.readFileAlloc(gpa, entry.path, file_bytes_max);
        defer gpa.free(source);
        var lines = std.mem.splitScalar(u8, source, '\n');
        var number: usize = 0;
        while (lines.next()) |line| {
            number += 1;
            if (lineProblem(entry.path, line)) |what| {
                std.debug.print("tidy: zig-src/{s}:{d}: {s}\n", .{ entry.path, number, what });
                failures += 1;
            }
        }
        const counts = countFile(source);
        failures += longFunctionFailures(entry.path, &counts, &allowed_seen);
        if (inList(&test_support_files, entry.path)) continue;
        for (density_folders, &folders) |folder, *total| {
            if (!std.mem.startsWith(u8, entry.path, folder)) continue;
            total.functions += counts.functions;
            total.assertions += counts.assertions;
        }
    }
    try std.testing.expect(files > 0);
    for (density_folders, folders) |folder, total| {
        try std.testing.expect(total.functions > 0);
        const density = @as(f64, @floatFromInt(total.assertions)) / @as(f64, @floatFromInt(total.functions));
        if (density < assertion_density_min) {
            std.debug.print("tidy: zig-src/{s}: {d} assertions / {d} functions = {d:.2} < {d:.2}\n", .{
                folder, total.assertions, total.functions, density, assertion_density_min,
            });
            failures += 1;
        }
    }
    if (allowed_seen != long_functions_allowed.len) {
        std.debug.print("tidy: long_functions_allowed names {d} functions, {d} of them still too long: drop the rest\n", .{
            long_functions_allowed.len, allowed_seen,
        });
        failures += 1;
    }
    try std.testing.expectEqual(@as(usize, 0), failures);
}

test "tidy: the counter counts functions and assertions, not tests, comments or literals" {
    const source =
        \\fn a(x: u32) void {
        \\    assert(x > 0); // assert(comment)
        \\    const f: *const fn (u32) void = a;
        \\    const s = "assert( fn b( {";
        \\    const c = '{';
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
    try std.testing.expectEqual(@as(usize, 0), counts.long_count);
}

test "tidy: a function over function_lines_max is found, a generic type's body is not one" {
    var source: std.ArrayListUnmanaged(u8) = .{};
    defer source.deinit(std.testing.allocator);
    const gpa = std.testing.allocator;
    try source.appendSlice(gpa, "fn Box(comptime T: type) type {\n    return struct {\n");
    try source.appendSlice(gpa, "        fn short(\n            x: T,\n        ) error{A}!void {\n            _ = x;\n        }\n");
    try source.appendSlice(gpa, "        extern fn proto() void;\n        fn long() void {\n");
    for (0..function_lines_max) |_| try source.appendSlice(gpa, "            step();\n");
    try source.appendSlice(gpa, "        }\n    };\n}\n");
    const counts = countFile(source.items);
    try std.testing.expectEqual(@as(usize, 1), counts.long_count);
    try std.testing.expectEqualStrings("long", counts.long[0].name);
    try std.testing.expectEqual(@as(usize, function_lines_max + 2), counts.long[0].lines);
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

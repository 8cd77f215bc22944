//! `zig build fuzz -- [--iterations N] [--seed S] [--target codec|buffer|heap|all]`: mutates the seed
//! corpus with a seeded PRNG and runs every input through the targets (ReleaseSafe, so an
//! out-of-bounds access or overflow panics). Prints how many inputs ran and how long it took;
//! on a divergence prints the input (hex) and the seed and iteration that rebuild it, and exits 1.
//! The same loop runs briefly inside `zig build test`.
const std = @import("std");
const targets = @import("targets.zig");
const corpus = @import("corpus.zig");
const page_heap = @import("../abi/page_heap.zig");

pub const Target = enum { codec, buffer, heap, all };

/// Longest input: long enough for a few hundred operations, short enough to run millions.
const input_len_max = 4096;

/// Builds input `i` of a campaign: a seed, then 1-16 random mutations.
pub fn mutate(random: std.Random, seeds: []const []const u8, out: *[input_len_max]u8) []u8 {
    const seed = seeds[random.uintLessThan(usize, seeds.len)];
    var len: usize = @min(seed.len, out.len);
    @memcpy(out[0..len], seed[0..len]);
    const rounds = 1 + random.uintLessThan(u8, 16);
    for (0..rounds) |_| {
        switch (random.uintLessThan(u8, 6)) {
            0 => if (len > 0) {
                out[random.uintLessThan(usize, len)] ^= @as(u8, 1) << random.int(u3);
            },
            1 => if (len > 0) {
                out[random.uintLessThan(usize, len)] = random.int(u8);
            },
            2 => { // insert random bytes
                const n = @min(1 + random.uintLessThan(usize, 32), out.len - len);
                const at = random.uintAtMost(usize, len);
                std.mem.copyBackwards(u8, out[at + n .. len + n], out[at..len]);
                random.bytes(out[at..][0..n]);
                len += n;
            },
            3 => if (len > 0) { // delete a range
                const at = random.uintLessThan(usize, len);
                const n = random.uintAtMost(usize, @min(len - at, 16));
                std.mem.copyForwards(u8, out[at .. len - n], out[at + n .. len]);
                len -= n;
            },
            4 => if (len > 0) { // repeat a range: longer programs, repeated patterns
                const at = random.uintLessThan(usize, len);
                const n = @min(random.uintAtMost(usize, len - at), out.len - len);
                std.mem.copyForwards(u8, out[len..][0..n], out[at..][0..n]);
                len += n;
            },
            else => { // splice the tail of another seed
                const other = seeds[random.uintLessThan(usize, seeds.len)];
                const from = random.uintLessThan(usize, other.len);
                const n = @min(other.len - from, out.len - len);
                @memcpy(out[len..][0..n], other[from..][0..n]);
                len += n;
            },
        }
    }
    return out[0..len];
}

pub const Totals = struct { inputs: u64 = 0, bytes: u64 = 0 };

/// Runs the seeds unmutated, then `iterations` mutated inputs per chosen target.
pub fn campaign(gpa: std.mem.Allocator, seed: u64, iterations: u64, target: Target) !Totals {
    // 24 pages (1.5 MiB) of simulated wasm memory, reused by every heap input: small enough
    // that big writes reach the limit.
    var memory = try page_heap.SimMemory.init(24);
    defer memory.deinit();
    var prng = std.Random.DefaultPrng.init(seed);
    const random = prng.random();
    var buf: [input_len_max]u8 = undefined;
    var ran: Totals = .{};
    for (corpus.codec) |input| if (target == .codec or target == .all) try runOne(gpa, &memory, .codec, input, seed, 0);
    for (corpus.buffer) |input| if (target == .buffer or target == .all) try runOne(gpa, &memory, .buffer, input, seed, 0);
    for (corpus.heap) |input| if (target == .heap or target == .all) try runOne(gpa, &memory, .heap, input, seed, 0);
    var i: u64 = 0;
    while (i < iterations) : (i += 1) {
        const which: Target = if (target != .all) target else @enumFromInt(i % 3);
        const seeds: []const []const u8 = switch (which) {
            .codec => &corpus.codec,
            .buffer => &corpus.buffer,
            .heap, .all => &corpus.heap,
        };
        const input = mutate(random, seeds, &buf);
        try runOne(gpa, &memory, which, input, seed, i);
        ran.inputs += 1;
        ran.bytes += input.len;
    }
    return ran;
}

fn runOne(gpa: std.mem.Allocator, memory: *page_heap.SimMemory, which: Target, input: []const u8, seed: u64, i: u64) !void {
    const result = switch (which) {
        .codec => targets.codecTarget(gpa, input),
        .buffer => targets.bufferTarget(gpa, input),
        .heap, .all => targets.heapTarget(gpa, memory, input),
    };
    result catch |err| {
        std.debug.print("fuzz target {s} failed ({s}) at seed 0x{x} iteration {d}; input ({d} bytes): {}\n", .{
            @tagName(which), @errorName(err), seed, i, input.len, std.fmt.fmtSliceHexLower(input),
        });
        return err;
    };
}

pub fn main() !void {
    // malloc, as the core's own allocations: a debug allocator's mmap churn would dominate.
    const gpa = std.heap.c_allocator;
    var iterations: u64 = 1_000_000;
    var seed: u64 = @bitCast(std.time.milliTimestamp());
    var target: Target = .all;
    var args = try std.process.argsWithAllocator(gpa);
    defer args.deinit();
    _ = args.next();
    while (args.next()) |arg| {
        const value = args.next() orelse return usage(arg);
        if (std.mem.eql(u8, arg, "--iterations")) {
            iterations = std.fmt.parseInt(u64, value, 10) catch return usage(arg);
        } else if (std.mem.eql(u8, arg, "--seed")) {
            seed = std.fmt.parseInt(u64, value, 0) catch return usage(arg);
        } else if (std.mem.eql(u8, arg, "--target")) {
            target = std.meta.stringToEnum(Target, value) orelse return usage(arg);
        } else return usage(arg);
    }
    const started = std.time.nanoTimestamp();
    const ran = campaign(gpa, seed, iterations, target) catch std.process.exit(1);
    const seconds = @as(f64, @floatFromInt(std.time.nanoTimestamp() - started)) / 1e9;
    std.debug.print("fuzz: {d} inputs ({s}, {d:.0} bytes on average), seed 0x{x}, {d:.1} s, {d:.0} inputs/s, no divergence\n", .{
        ran.inputs,                                                                        @tagName(target),
        @as(f64, @floatFromInt(ran.bytes)) / @as(f64, @floatFromInt(@max(ran.inputs, 1))), seed,
        seconds,                                                                           @as(f64, @floatFromInt(ran.inputs)) / seconds,
    });
}

fn usage(arg: []const u8) error{InvalidArgument} {
    std.debug.print("zgnet-fuzz: bad argument {s}\nusage: zgnet-fuzz [--iterations N] [--seed S] [--target codec|buffer|heap|all]\n", .{arg});
    return error.InvalidArgument;
}

test "fuzz: a short campaign of both targets finds no divergence" {
    // Fixed seed so that `zig build test` is reproducible; the long run uses fresh seeds.
    const ran = try campaign(std.testing.allocator, 0x11C_F022, 2000, .all);
    try std.testing.expectEqual(@as(u64, 2000), ran.inputs);
}

test {
    _ = @import("model.zig");
}

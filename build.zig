//! One source tree, two artifacts:
//!   - zig-out/lib/libzgnet.so (or .dylib): the C ABI koffi loads; core + engine.
//!   - zig-out/wasm/zgnet.wasm: a wasm32-wasi reactor with the pure core only.
//! `zig build test` runs every Zig `test` block of both halves.
const std = @import("std");

pub fn build(b: *std.Build) void {
    const target = b.standardTargetOptions(.{});
    const optimize = b.standardOptimizeOption(.{});

    // Native shared library. libc is linked because std.Thread inside a koffi-loaded
    // library crashes without it (see shared/DESIGN.md).
    const native = b.addSharedLibrary(.{
        .name = "zgnet",
        .root_source_file = b.path("zig-src/native_root.zig"),
        .target = target,
        .optimize = optimize,
        .link_libc = true,
        .strip = optimize != .Debug,
    });
    b.installArtifact(native);

    // Wasm reactor: no entry point, every `export fn` kept, small stack so that one
    // instance costs a handful of pages rather than the 16 MiB default.
    const wasm_target = b.resolveTargetQuery(.{
        .cpu_arch = .wasm32,
        .os_tag = .wasi,
        .cpu_features_add = std.Target.wasm.featureSet(&.{ .simd128, .bulk_memory }),
    });
    const wasm = b.addExecutable(.{
        .name = "zgnet",
        .root_source_file = b.path("zig-src/wasm_root.zig"),
        .target = wasm_target,
        .optimize = optimize,
        .strip = optimize != .Debug,
    });
    wasm.entry = .disabled;
    wasm.rdynamic = true;
    wasm.wasi_exec_model = .reactor;
    wasm.export_memory = true;
    wasm.stack_size = 1 << 20;
    const install_wasm = b.addInstallArtifact(wasm, .{ .dest_dir = .{ .override = .{ .custom = "wasm" } } });
    b.getInstallStep().dependOn(&install_wasm.step);

    const wasm_step = b.step("wasm", "Build only the wasm reactor");
    wasm_step.dependOn(&install_wasm.step);
    const native_step = b.step("native", "Build only the native library");
    native_step.dependOn(&b.addInstallArtifact(native, .{}).step);

    // Tests: the core (pure logic) and the native side (ABI + engine), each in Debug
    // with safety checks so that assertions fire.
    const test_step = b.step("test", "Run every Zig test");
    // native_root reaches every core test through the ABI, so one root covers both halves.
    const test_roots = [_][]const u8{"zig-src/native_root.zig"};
    for (test_roots) |root| {
        const t = b.addTest(.{
            .root_source_file = b.path(root),
            .target = target,
            .optimize = .Debug,
            .link_libc = true,
        });
        test_step.dependOn(&b.addRunArtifact(t).step);
    }

    // Benchmark tools written in C, compiled by Zig's bundled clang: the load generator
    // and the minimal epoll echo server used as the ceiling.
    const bench_step = b.step("bench-tools", "Build the benchmark load generator and C echo server");
    const bench_tools = [_][2][]const u8{
        .{ "zgnet-loadgen", "bench/tools/loadgen.c" },
        .{ "c-echo", "bench/tools/c_echo.c" },
    };
    for (bench_tools) |tool| {
        const exe = b.addExecutable(.{ .name = tool[0], .target = target, .optimize = .ReleaseFast, .link_libc = true });
        exe.addCSourceFile(.{ .file = b.path(tool[1]), .flags = &.{ "-std=gnu11", "-Wall", "-Wextra", "-O2" } });
        bench_step.dependOn(&b.addInstallArtifact(exe, .{}).step);
    }
}

//! One source tree, two artifacts:
//!   - zig-out/lib/libzgnet.so (or .dylib): the C ABI koffi loads; core + engine.
//!   - wasm/zgnet.wasm: a wasm32-wasi reactor with the pure core only, installed beside its
//!     loader (wasm/wasm-binding.ts), where the package ships it from; `-Dwasm-dir` moves it.
//! `zig build test` runs every Zig `test` block of both halves.
const std = @import("std");

pub fn build(b: *std.Build) void {
    const target = b.standardTargetOptions(.{});
    const optimize = b.standardOptimizeOption(.{});

    // Native shared library. libc is linked because std.Thread inside a koffi-loaded
    // library crashes without it (measured with koffi 3.3.4).
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
    // Relative to the install prefix: by default zig-out/../wasm, the repository's wasm/ folder.
    const wasm_dir = b.option([]const u8, "wasm-dir", "Where zgnet.wasm is installed, relative to the prefix (default ../wasm)") orelse "../wasm";
    const install_wasm = b.addInstallArtifact(wasm, .{ .dest_dir = .{ .override = .{ .custom = wasm_dir } } });
    b.getInstallStep().dependOn(&install_wasm.step);

    const wasm_step = b.step("wasm", "Build only the wasm reactor");
    wasm_step.dependOn(&install_wasm.step);
    const native_step = b.step("native", "Build only the native library");
    native_step.dependOn(&b.addInstallArtifact(native, .{}).step);

    // Tests: the core (pure logic) and the native side (ABI + engine), each in Debug
    // with safety checks so that assertions fire.
    const test_step = b.step("test", "Run every Zig test");
    // native_root reaches every core test through the ABI, so one root covers both halves;
    // fuzz_root adds a short fuzz campaign (its filter skips the core tests it reaches again).
    const test_roots = [_]struct { []const u8, []const []const u8 }{
        .{ "zig-src/native_root.zig", &.{} },
        .{ "zig-src/fuzz_root.zig", &.{ "fuzz", "model rules" } },
    };
    for (test_roots) |root| {
        const t = b.addTest(.{
            .root_source_file = b.path(root[0]),
            .target = target,
            .optimize = .Debug,
            .link_libc = true,
            .filters = root[1],
        });
        test_step.dependOn(&b.addRunArtifact(t).step);
    }
    // The tidy check reads the sources themselves, so it is told where they are.
    const tidy_options = b.addOptions();
    tidy_options.addOption([]const u8, "src_dir", b.pathFromRoot("zig-src"));
    const tidy = b.addTest(.{ .root_source_file = b.path("zig-src/tidy.zig"), .target = b.graph.host, .optimize = .Debug });
    tidy.root_module.addOptions("tidy_options", tidy_options);
    test_step.dependOn(&b.addRunArtifact(tidy).step);

    // `zig build fuzz -- --iterations 10000000 [--seed S] [--target codec|buffer|all]`: the
    // codec and buffer fuzz targets against their model, ReleaseSafe so that any
    // out-of-bounds access or overflow panics (zig-src/fuzz/runner.zig).
    const fuzz = b.addExecutable(.{
        .name = "zgnet-fuzz",
        .root_source_file = b.path("zig-src/fuzz_root.zig"),
        .target = b.graph.host,
        .optimize = .ReleaseSafe,
        .link_libc = true,
    });
    const run_fuzz = b.addRunArtifact(fuzz);
    if (b.args) |args| run_fuzz.addArgs(args);
    b.step("fuzz", "Run the codec and buffer fuzz targets (pass -- --iterations N)").dependOn(&run_fuzz.step);

    // The TLS load generator links the system's OpenSSL (libssl-dev): a tool of its own, so
    // that a machine without it loses only the TLS cases of the benchmark.
    const tls_tools_step = b.step("bench-tls-tools", "Build the TLS benchmark load generator (needs libssl-dev)");
    const tls_loadgen = b.addExecutable(.{ .name = "zgnet-tls-loadgen", .target = target, .optimize = .ReleaseFast, .link_libc = true });
    tls_loadgen.addCSourceFile(.{ .file = b.path("bench/tools/tls_loadgen.c"), .flags = &.{ "-std=gnu11", "-Wall", "-Wextra", "-O2" } });
    tls_loadgen.linkSystemLibrary("ssl");
    tls_loadgen.linkSystemLibrary("crypto");
    tls_tools_step.dependOn(&b.addInstallArtifact(tls_loadgen, .{}).step);

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

//! Every table that crosses the boundary, served by the artifact itself. The host keeps one
//! copy of each (host/core/boundary.ts and the tables beside its bindings) and compares it
//! with what the loaded artifact says here before its first call: an artifact built from other
//! sources is refused, naming each difference, so a drift on either side fails every test.
//!
//!   items       named integers: the shared-memory layout, field indices, the small enums
//!   signatures  every exported `zg_*` function as the C prototype koffi parses, generated
//!               from the Zig declaration itself (the host's koffi strings and its wasm
//!               `Exports` type are both written from its copy of this list)
//!
//! Each root (native_root.zig, wasm_root.zig) calls `exportTables` once with what it exports.
//! The five table functions themselves are the bootstrap: their prototypes are fixed.
const std = @import("std");
const assert = std.debug.assert;

pub const Item = struct { name: [:0]const u8, value: i32 };

/// Longest name and prototype the host reads; its C-string reader is bounded by this.
pub const text_bytes_max = 256;

/// `prefix_field = value` for every field of an enum.
pub fn enumItems(comptime prefix: []const u8, comptime E: type) [@typeInfo(E).@"enum".fields.len]Item {
    const fields = @typeInfo(E).@"enum".fields;
    var items: [fields.len]Item = undefined;
    for (fields, 0..) |field, i| items[i] = .{ .name = prefix ++ "_" ++ field.name, .value = field.value };
    return items;
}

/// `prefix_name = value` for every integer constant declared in a namespace struct.
pub fn declItems(comptime prefix: []const u8, comptime S: type) [@typeInfo(S).@"struct".decls.len]Item {
    const decls = @typeInfo(S).@"struct".decls;
    var items: [decls.len]Item = undefined;
    for (decls, 0..) |decl, i| items[i] = .{ .name = prefix ++ "_" ++ decl.name, .value = @field(S, decl.name) };
    return items;
}

/// The C spelling of each type an export may take or return; any other type is a compile
/// error, so a new export cannot cross with a type the host has no name for.
fn cType(comptime T: type) []const u8 {
    return switch (T) {
        void => "void",
        u32 => "uint32_t",
        i32 => "int32_t",
        usize => "uintptr_t",
        isize => "intptr_t",
        ?[*]const u8 => "const uint8_t *",
        ?[*]u8 => "uint8_t *",
        ?[*]const i32 => "const int32_t *",
        ?[*]i32 => "int32_t *",
        ?[*:0]const u8 => "const char *",
        else => @compileError("no C spelling for " ++ @typeName(T)),
    };
}

/// "intptr_t zg_buffer_new(uint32_t, uintptr_t)": the prototype of an exported function.
pub fn signature(comptime name: []const u8, comptime F: type) [:0]const u8 {
    const info = @typeInfo(F).@"fn";
    const ret = cType(info.return_type.?);
    var text: []const u8 = ret ++ (if (ret[ret.len - 1] == '*') "" else " ") ++ name ++ "(";
    for (info.params, 0..) |param, i| text = text ++ (if (i > 0) ", " else "") ++ cType(param.type.?);
    text = text ++ ")";
    assert(text.len < text_bytes_max);
    return (text ++ "\x00")[0..text.len :0];
}

/// The prototypes of every `pub export fn zg_*` of `modules`, in declaration order.
fn signatures(comptime modules: []const type) []const [:0]const u8 {
    @setEvalBranchQuota(200_000);
    var list: []const [:0]const u8 = &.{};
    for (modules) |M| {
        for (@typeInfo(M).@"struct".decls) |decl| {
            if (!std.mem.startsWith(u8, decl.name, "zg_")) continue;
            const F = @TypeOf(@field(M, decl.name));
            if (@typeInfo(F) != .@"fn") continue;
            list = list ++ .{signature(decl.name, F)};
        }
    }
    return list;
}

/// Exports the two tables as five C functions (names fixed: the host's bootstrap).
pub fn exportTables(comptime items: []const Item, comptime modules: []const type) void {
    const Tables = struct {
        const item_table: [items.len]Item = items[0..items.len].*;
        const prototypes = signatures(modules);
        const prototype_table: [prototypes.len][*:0]const u8 = blk: {
            var table: [prototypes.len][*:0]const u8 = undefined;
            for (prototypes, 0..) |p, i| table[i] = p.ptr;
            break :blk table;
        };

        comptime {
            @setEvalBranchQuota(200_000);
            // Names are keys on the host side: a duplicate would hide one entry.
            for (items, 0..) |a, i| {
                assert(a.name.len < text_bytes_max);
                for (items[i + 1 ..]) |b| assert(!std.mem.eql(u8, a.name, b.name));
            }
            assert(prototypes.len > 0);
        }

        fn itemCount() callconv(.C) u32 {
            return item_table.len;
        }

        fn itemName(index: u32) callconv(.C) ?[*:0]const u8 {
            if (index >= item_table.len) return null;
            return item_table[index].name.ptr;
        }

        /// 0 past the end: the host reads values only at indices whose name it read.
        fn itemValue(index: u32) callconv(.C) i32 {
            if (index >= item_table.len) return 0;
            return item_table[index].value;
        }

        fn exportCount() callconv(.C) u32 {
            return prototype_table.len;
        }

        fn exportSignature(index: u32) callconv(.C) ?[*:0]const u8 {
            if (index >= prototype_table.len) return null;
            return prototype_table[index];
        }
    };
    @export(&Tables.itemCount, .{ .name = "zg_abi_item_count" });
    @export(&Tables.itemName, .{ .name = "zg_abi_item_name" });
    @export(&Tables.itemValue, .{ .name = "zg_abi_item_value" });
    @export(&Tables.exportCount, .{ .name = "zg_abi_export_count" });
    @export(&Tables.exportSignature, .{ .name = "zg_abi_export_signature" });
}

test "signature: the C prototype of a Zig export" {
    const f = struct {
        fn f(_: i32, _: ?[*]const u8, _: usize) callconv(.C) isize {
            return 0;
        }
        fn g(_: u32) callconv(.C) ?[*:0]const u8 {
            return null;
        }
    };
    try std.testing.expectEqualStrings("intptr_t zg_x(int32_t, const uint8_t *, uintptr_t)", comptime signature("zg_x", @TypeOf(f.f)));
    try std.testing.expectEqualStrings("const char *zg_y(uint32_t)", comptime signature("zg_y", @TypeOf(f.g)));
}

test "enumItems and declItems: prefixed names, the declared values" {
    const items = comptime enumItems("kind", enum(u8) { a = 3, b = 7 });
    try std.testing.expectEqualStrings("kind_b", items[1].name);
    try std.testing.expectEqual(@as(i32, 7), items[1].value);
    const decls = comptime declItems("field", struct {
        pub const x = 1;
        pub const y = 5;
    });
    try std.testing.expectEqualStrings("field_y", decls[1].name);
    try std.testing.expectEqual(@as(i32, 5), decls[1].value);
}

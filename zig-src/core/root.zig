//! The pure core: buffers, codecs and load balancing. No syscalls, so it compiles into both
//! the native library and the wasm reactor.
pub const status = @import("status.zig");
pub const RingBuffer = @import("buffer/ring.zig").RingBuffer;
pub const ElasticRingBuffer = @import("buffer/elastic_ring.zig").ElasticRingBuffer;
pub const LinkedListBuffer = @import("buffer/linked_list.zig").LinkedListBuffer;
pub const ElasticBuffer = @import("buffer/elastic_mixed.zig").ElasticBuffer;
pub const codec = @import("codec/codec.zig");
pub const load_balancer = @import("load_balancer.zig");

test {
    @import("std").testing.refAllDecls(@This());
    _ = @import("buffer/ring.zig");
    _ = @import("buffer/elastic_ring.zig");
    _ = @import("buffer/linked_list.zig");
    _ = @import("buffer/elastic_mixed.zig");
    _ = @import("codec/codec.zig");
    _ = @import("load_balancer.zig");
}

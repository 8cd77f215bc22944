//! The seed corpus: hand-written inputs that reach each configuration of the targets (see
//! targets.zig for how a program is read). The runner mutates these; any byte string is a
//! valid input, so seeds only need to start the search somewhere interesting.
pub const codec = [_][]const u8{
    // Two delimiter codecs ('\x01' max 21, '\x02' max 41) on an elastic ring, writes and scans in turn.
    "\x00\x00\x01\x0a" ++ "\x00\x00\x02\x14" ++ "\x01" ++ "\x08ab\x01cd\x02ef\x01g\x02" ++ "\x80\x40\x81\x40\x05a\x02b\x01\x83\x10\x82\x10",
    // Line-like ('\x00') against a 2-byte delimiter ('\x01\x02'), plain ring, hand-out of several.
    "\x00\x00\x00\x30" ++ "\x00\x01\x01\x02\x30" ++ "\x00" ++ "\x10x\x00y\x01\x02z\x00\x01\x02w\x00\x01\x02" ++ "\x9e\x40\x03\x9f\x40\x02\xc3",
    // Length field (2 bytes, big endian, strip 2) and a fixed length of 4.
    "\x02\x81\x00\x02\x40" ++ "\x01\x03" ++ "\x01" ++ "\x0a\x00\x03abc\x00\x01z\x00\x00" ++ "\x9e\x40\x05\x81\x40\x00",
    // Length field (8 bytes, little endian, offset 1): hostile lengths.
    "\x02\x0b\x40\x05\xff" ++ "\x00\x00\x03\x7f" ++ "\x00" ++ "\x0a\x00\xff\xff\xff\xff\xff\xff\xff\xff\x00" ++ "\x80\x80\x80",
    // Fixed length 1 and a 3-byte delimiter: many small frames, tiny output buffers.
    "\x01\x00" ++ "\x00\x02\x01\x02\x03\x10" ++ "\x00" ++ "\x20\x01\x02\x03abc\x01\x02\x03\x01\x02" ++ "\x9e\x01\x9f\x00\x9f\x02\xc7",
};

pub const buffer = [_][]const u8{
    // Small ring, small elastic threshold: writes past both, then peeks, reads, discards.
    "\x01\x01" ++ "\x01\x05hello" ++ "\x60\x02" ++ "\x80\x01" ++ "\x20\x10" ++ "0123456789abcdef" ++ "\xa0\x03" ++ "\xe0\x00",
    // Large pieces that make the linked list hold many nodes.
    "\x00\x02" ++ "\x07\x40" ++ "x" ** 64 ++ "\x07\x40" ++ "y" ** 64 ++ "\x67\x60" ++ "\x87\x20" ++ "\xc7\x10" ++ "\xe1\x00",
};

pub const heap = [_][]const u8{
    // Writes that grow all three buffers, interleaved so their blocks alternate in memory.
    "\x10" ++ "\x00\x40\x01\x40\x02\x40" ++ "\x1c\x80\x1d\x80\x1e\x80" ++ "\x80\x20\xa1\x20" ++ "\x1c\xff\xc0\x10\x1d\xff",
    // Big writes up to the memory limit: refusals, then discards that free and merge pages.
    "\x00" ++ "\x24\xff\x25\xff\x26\xff\x24\xff" ++ "\xc0\xff\xc1\xff\xc2\xff" ++ "\x24\xff\x25\xff",
};

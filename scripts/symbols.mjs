// Reads what a built library exports (ELF .dynsym, Mach-O LC_SYMTAB) and which glibc versions
// it requires (ELF .gnu.version_r), without binutils: the packaging script checks every
// target's library against the symbols the host binds with koffi.
import fs from 'node:fs';
import path from 'node:path';
import { root } from './zig.mjs';

const SHT_DYNSYM = 11;
const SHT_GNU_VERNEED = 0x6ffffffe;

function cString(buf, offset) {
  const end = buf.indexOf(0, offset);
  return buf.toString('latin1', offset, end < 0 ? buf.length : end);
}

function elfSections(buf) {
  if (buf[4] !== 2 || buf[5] !== 1) throw new Error('only 64-bit little-endian ELF is read here');
  const shoff = Number(buf.readBigUInt64LE(0x28));
  const shentsize = buf.readUInt16LE(0x3a);
  const shnum = buf.readUInt16LE(0x3c);
  const sections = [];
  for (let i = 0; i < shnum; i++) {
    const o = shoff + i * shentsize;
    sections.push({
      type: buf.readUInt32LE(o + 4),
      offset: Number(buf.readBigUInt64LE(o + 24)),
      size: Number(buf.readBigUInt64LE(o + 32)),
      link: buf.readUInt32LE(o + 40),
      info: buf.readUInt32LE(o + 44),
    });
  }
  return sections;
}

/** Defined, default-visibility global/weak symbols of an ELF shared object's dynamic table. */
function elfExports(buf) {
  const sections = elfSections(buf);
  const dynsym = sections.find((s) => s.type === SHT_DYNSYM);
  if (!dynsym) return [];
  const strtab = sections[dynsym.link];
  const names = [];
  for (let o = dynsym.offset; o < dynsym.offset + dynsym.size; o += 24) {
    const bind = buf[o + 4] >> 4;
    const visibility = buf[o + 5] & 3;
    const shndx = buf.readUInt16LE(o + 6);
    if (shndx === 0 || (bind !== 1 && bind !== 2) || (visibility !== 0 && visibility !== 3)) continue;
    names.push(cString(buf, strtab.offset + buf.readUInt32LE(o)));
  }
  return names;
}

/** The version names an ELF object needs from its libraries, e.g. `GLIBC_2.17`. */
function elfVersionsNeeded(buf) {
  const sections = elfSections(buf);
  const verneed = sections.find((s) => s.type === SHT_GNU_VERNEED);
  if (!verneed) return [];
  const strtab = sections[verneed.link];
  const versions = [];
  let o = verneed.offset;
  for (let i = 0; i < verneed.info; i++) {
    const count = buf.readUInt16LE(o + 2);
    let a = o + buf.readUInt32LE(o + 8);
    for (let j = 0; j < count; j++) {
      versions.push(cString(buf, strtab.offset + buf.readUInt32LE(a + 8)));
      a += buf.readUInt32LE(a + 12);
    }
    o += buf.readUInt32LE(o + 12);
  }
  return versions;
}

/** External symbols defined in a section (N_EXT, N_SECT), from a 64-bit Mach-O's LC_SYMTAB. */
function machoExports(buf) {
  const ncmds = buf.readUInt32LE(16);
  let o = 32;
  for (let i = 0; i < ncmds; i++) {
    const cmd = buf.readUInt32LE(o);
    if (cmd === 0x2) {
      const symoff = buf.readUInt32LE(o + 8);
      const nsyms = buf.readUInt32LE(o + 12);
      const stroff = buf.readUInt32LE(o + 16);
      const names = [];
      for (let s = 0; s < nsyms; s++) {
        const e = symoff + s * 16;
        const type = buf[e + 4];
        if ((type & 0xe0) !== 0 || (type & 0x01) === 0 || (type & 0x0e) !== 0x0e) continue;
        names.push(cString(buf, stroff + buf.readUInt32LE(e)).replace(/^_/, ''));
      }
      return names;
    }
    o += buf.readUInt32LE(o + 4);
  }
  return [];
}

/** `{ format, exports, glibc }` of a library file; `glibc` is the newest GLIBC_ version it needs. */
export function readLibrary(file) {
  const buf = fs.readFileSync(file);
  if (buf.readUInt32BE(0) === 0x7f454c46) {
    const glibc = elfVersionsNeeded(buf)
      .filter((v) => v.startsWith('GLIBC_'))
      .map((v) => v.slice(6))
      .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
      .pop();
    return { format: 'ELF', exports: elfExports(buf), glibc };
  }
  if (buf.readUInt32LE(0) === 0xfeedfacf) return { format: 'Mach-O', exports: machoExports(buf) };
  throw new Error(`${file}: neither ELF nor 64-bit Mach-O`);
}

/** Every `zg_*` function the host binds: the names in koffi signatures under host/. */
export function boundSymbols() {
  const names = new Set();
  const dir = path.join(root, 'host');
  for (const rel of fs.readdirSync(dir, { recursive: true }).map(String)) {
    if (!rel.endsWith('.ts')) continue;
    const text = fs.readFileSync(path.join(dir, rel), 'utf8');
    for (const literal of text.matchAll(/'([^'\n]*)'/g)) {
      for (const m of literal[1].matchAll(/\b(zg_[a-z0-9_]+)\s*\(/g)) names.add(m[1]);
    }
  }
  return [...names].sort();
}

// `zgnet/buffer` for TypeScript's `moduleResolution: "node"` (node10), which ignores the
// `exports` map: it finds this file instead. Newer resolutions use `exports`.
export * from './dist/host/buffer/index.js';

// The Node types zgnet's public declarations name, in one hand-written file (build.mjs copies it
// into dist/host/) so that a TypeScript consumer compiles with or without @types/node. With
// @types/node loaded each name is Node's own type; without it a module import is `any` (the
// `@ts-ignore` lines, which tsc would drop from emitted declarations, hence hand-written) and a
// Buffer is the Uint8Array it is at run time. Type-only: there is no node-types.js.

// @ts-ignore: 'node:net' resolves only where @types/node is installed; elsewhere it is any
import type * as net from 'node:net';
// @ts-ignore: as above, 'node:dgram'
import type * as dgram from 'node:dgram';
// @ts-ignore: as above, 'node:crypto'
import type * as crypto from 'node:crypto';

/** Node's `Buffer` with @types/node; without it `Uint8Array`, which every Buffer is. */
// @ts-ignore: the name Buffer exists only with @types/node; the conditional then picks Uint8Array
export type NodeBuffer = typeof globalThis extends { Buffer: unknown } ? Buffer : Uint8Array;

/** A `net.Socket` (TCP or Unix stream). */
export type NetSocket = net.Socket;

/** A `dgram.Socket` (UDP). */
export type DgramSocket = dgram.Socket;

/** A parsed certificate, `crypto.X509Certificate`. */
export type X509Certificate = crypto.X509Certificate;

// @ts-ignore: as above, 'node:tls'
import type * as tls from 'node:tls';

/** A TLS context, `tls.SecureContext` (internal declarations a public one reaches). */
export type SecureContext = tls.SecureContext;

/** What `tls.createSecureContext` takes. */
export type SecureContextOptions = tls.SecureContextOptions;

/** `AbortSignal`, global with @types/node or TypeScript's DOM lib; without either, what zgnet reads of one. */
// @ts-ignore: the name AbortSignal exists only with @types/node or the DOM lib; the conditional then picks the shape
export type NodeAbortSignal = typeof globalThis extends { AbortSignal: unknown } ? AbortSignal : { readonly aborted: boolean; readonly reason: unknown };

/** WHATWG `URL`, global with @types/node or the DOM lib; without either, what zgnet reads of one. */
// @ts-ignore: as above, URL
export type NodeURL = typeof globalThis extends { URL: unknown } ? URL : { readonly href: string };

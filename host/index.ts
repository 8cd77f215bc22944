/**
 * zgnet: gnet's event-driven networking for Node.js, with its core in Zig.
 *
 * @module zgnet
 */
export { run, rotate } from './run.js';
export { handlerData } from './multicore/handler-module.js';
export type { HandlerSpec } from './multicore/handler-module.js';
export { Client } from './client.js';
export type { DialOptions, EnrollOptions } from './client.js';
export { Action, BuiltinEventEngine } from './api.js';
export type {
  ClientOptions,
  Conn,
  Engine,
  EventHandler,
  EventLoop,
  ListenerAddress,
  EngineStats,
  LoopStats,
  SniCertificate,
  LoadBalancing,
  Logger,
  LogLevel,
  Network,
  Options,
  PemInput,
  TickResult,
  TlsDialOptions,
  TlsInfo,
  TlsServerOptions,
  TlsVersion,
} from './api.js';
export { ZgnetError, ErrorCode, systemError } from './errors.js';
export type { SystemError, ErrorCodeName } from './errors.js';
export { Codec, LineCodec, DelimiterCodec, FixedLengthCodec, LengthFieldCodec, DEFAULT_MAX_FRAME_LENGTH } from './codec/index.js';
export type { DelimiterCodecOptions, LengthFieldCodecOptions, Writable } from './codec/index.js';
export { resolveMode } from './core/select.js';
export type { ModeOption } from './core/select.js';
export type { Mode } from './core/binding.js';

/**
 * The torture run's proxy as a handler module, so that its loops run on worker threads
 * (native mode) or worker processes (wasm mode): the example's handler, aimed at
 * `handlerData.upstream`. onBoot (main thread) hands the engine to the run that started it.
 */
import type { Engine } from '../../../host/index.js';
import { proxyHandler } from '../../../examples/tcp-proxy-handler.js';

export interface TortureProxyData {
  upstream: string;
  tag: string;
}

/** Where the run waits for each proxy's engine, by tag (a Map on globalThis). */
export const TORTURE_PROXY_BOOT = Symbol.for('zgnet torture proxy boot');

export default class TortureProxy {
  constructor(data: TortureProxyData) {
    Object.assign(this, proxyHandler(() => data.upstream), {
      onBoot(engine: Engine) {
        const boots = (globalThis as Record<symbol, unknown>)[TORTURE_PROXY_BOOT] as Map<string, (engine: Engine) => void> | undefined;
        boots?.get(data.tag)?.(engine);
      },
    });
  }
}

/** Makes the fallback engine the one run() uses in 'wasm' mode. */
import { engineFactories } from '../run.js';
import { FallbackEngine } from './engine.js';

engineFactories.wasm = (handler, options) => new FallbackEngine(handler, options);

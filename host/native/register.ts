/** Makes the native engine the one run() uses in 'native' mode. */
import { engineFactories } from '../run.js';
import { NativeEngine } from './engine.js';

engineFactories.native = (handler, options) => new NativeEngine(handler, options);

/** The mode a suite runs in: `ZGNET_MODE` as set by `npm test` (native, then wasm). */
import type { Mode } from '../../host/index.js';

export const testMode: Mode = process.env.ZGNET_MODE === 'wasm' ? 'wasm' : 'native';

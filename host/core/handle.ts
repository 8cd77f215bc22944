/**
 * Core objects are freed when their JavaScript owner is garbage-collected.
 */
import type { CoreBinding } from './binding.js';

const registry = new FinalizationRegistry<{ binding: CoreBinding; handle: number }>(({ binding, handle }) => {
  binding.zg_release(handle);
});

export function ownHandle(owner: object, binding: CoreBinding, handle: number): void {
  registry.register(owner, { binding, handle });
}

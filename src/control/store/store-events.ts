import type { StoreChange } from './store.js';

/**
 * The listeners of one store's changes. A listener that throws is reported on the next tick
 * (as any uncaught error) but does not keep the others from hearing the change, nor fail the
 * write that caused it.
 */
export class StoreEvents {
  private readonly listeners = new Set<(change: StoreChange) => void>();

  subscribe(listener: (change: StoreChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(change: StoreChange): void {
    for (const l of [...this.listeners]) {
      try {
        l(change);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
}

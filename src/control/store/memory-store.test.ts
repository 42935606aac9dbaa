import { MemoryStore } from './memory-store.js';
import { storeConformance } from './store-conformance.js';

// The compiler's tests stand in MemoryStore for EtcdStore: it must keep the same contract.
storeConformance('MemoryStore', () => {
  let store = new MemoryStore();
  return Promise.resolve({
    get store() {
      return store;
    },
    reopen() {
      store = store.reopen();
      return Promise.resolve(store);
    },
    cleanup: () => Promise.resolve(),
  });
});

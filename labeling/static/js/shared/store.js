/* Articulate's pages, shared/store.js: a page's state as one object with one way to change it.
 *
 * get() returns the state object (read it, never assign to it); update(patch) merges a patch into it and then
 * calls, in the order they subscribed, each listener of a key the patch names; subscribe(keys, listener) returns
 * its unsubscribe. Each page's main.js subscribes its views to the keys they show, so a view that changes the
 * state never calls another view. Listeners run synchronously: when update returns, the page shows the change. */

/** A store whose keys are those of ``initial`` (a patch naming another key is a typo: it throws). */
export function createStore(initial) {
  const state = { ...initial };
  const listeners = [];
  return {
    get: () => state,
    update(patch) {
      const keys = Object.keys(patch);
      const unknown = keys.filter((key) => !(key in state));
      if (unknown.length) throw new Error(`store: no such key ${unknown.join(', ')}`);
      Object.assign(state, patch);
      for (const entry of [...listeners]) {
        if (keys.some((key) => entry.keys.has(key))) entry.listener(state, keys);
      }
    },
    subscribe(keys, listener) {
      const entry = { keys: new Set(keys), listener };
      listeners.push(entry);
      return () => {
        const at = listeners.indexOf(entry);
        if (at >= 0) listeners.splice(at, 1);
      };
    },
  };
}

/**
 * A promise that the first of several outcomes settles: `start` wires the outcomes (listeners, a timer) to `resolve`
 * and `reject`, and returns what undoes that wiring. The undoing runs once, as the promise settles (after `start`
 * returns, if an outcome came during it); later outcomes do nothing.
 */
export function settleOnce<T>(
  start: (resolve: (value: T) => void, reject: (err: Error) => void) => () => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const state: { settled: boolean; undo?: () => void } = { settled: false };
    const settle = (finish: () => void): void => {
      if (state.settled) return;
      state.settled = true;
      state.undo?.();
      finish();
    };
    const undo = start(
      (value) => settle(() => resolve(value)),
      (err) => settle(() => reject(err)),
    );
    if (state.settled) undo();
    else state.undo = undo;
  });
}

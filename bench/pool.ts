/** Runs `fn` on every item (and its index), `n` at a time. */
export async function pool<T>(items: T[], n: number, fn: (t: T, i: number) => Promise<void>): Promise<void> {
  const queue = items.entries();
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      for (const [i, item] of queue) await fn(item, i);
    }),
  );
}

/**
 * Group commit for a Durable Object: the first call waits `windowMs` (0: one macrotask), every call
 * that arrives meanwhile joins it, and `commit` handles them all at once (one transaction, one implicit
 * commit to disk) instead of one each. Every caller's promise settles with the group's outcome — its own
 * item's result when `commit` returns one per item —; the object's output gate holds their answers until
 * the writes are durable.
 */
export class GroupCommit<T, R = void> {
  private queue: T[] = [];
  private group: Promise<R[] | void> | null = null;

  constructor(
    private readonly commit: (items: T[]) => R[] | void,
    private readonly windowMs = 0,
  ) {}

  add(item: T): Promise<R> {
    const i = this.queue.push(item) - 1;
    this.group ??= new Promise<R[] | void>((resolve, reject) => {
      setTimeout(() => {
        const items = this.queue;
        this.queue = [];
        this.group = null;
        try {
          resolve(this.commit(items));
        } catch (err) {
          reject(err);
        }
      }, this.windowMs);
    });
    return this.group.then((results) => (results ? results[i] : undefined) as R);
  }
}

/**
 * Group commit for a Durable Object: the first call waits one macrotask, every call that arrives
 * meanwhile joins it, and `commit` handles them all at once (one transaction, one implicit commit to
 * disk) instead of one each. Every caller's promise settles with the group's outcome; the object's
 * output gate holds their answers until the writes are durable.
 */
export class GroupCommit<T> {
  private queue: T[] = [];
  private group: Promise<void> | null = null;

  constructor(private readonly commit: (items: T[]) => void) {}

  add(item: T): Promise<void> {
    this.queue.push(item);
    this.group ??= new Promise<void>((resolve, reject) => {
      setTimeout(() => {
        const items = this.queue;
        this.queue = [];
        this.group = null;
        try {
          this.commit(items);
          resolve();
        } catch (err) {
          reject(err);
        }
      }, 0);
    });
    return this.group;
  }
}

/**
 * Fires a callback per key at (never before) its due time, with one Node timer for the
 * whole set: a binary min-heap ordered by due time. Timers can fire a millisecond early
 * relative to Date.now(), so due items are re-checked against the clock before firing.
 */
export class DelayTimers {
  private readonly heap: { key: string; dueAt: number }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private armedFor = Number.POSITIVE_INFINITY;

  constructor(private readonly fire: (key: string) => void) {}

  add(key: string, dueAt: number): void {
    this.heap.push({ key, dueAt });
    this.siftUp(this.heap.length - 1);
    this.arm();
  }

  clear(): void {
    this.heap.length = 0;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.armedFor = Number.POSITIVE_INFINITY;
  }

  private arm(): void {
    const first = this.heap[0];
    if (!first || first.dueAt >= this.armedFor) return;
    if (this.timer) clearTimeout(this.timer);
    this.armedFor = first.dueAt;
    // setTimeout caps at 2^31-1 ms; longer delays re-arm when that fires.
    const delay = Math.min(Math.max(0, first.dueAt - Date.now()), 2 ** 31 - 1);
    this.timer = setTimeout(() => this.onTimer(), delay);
  }

  private onTimer(): void {
    this.timer = undefined;
    this.armedFor = Number.POSITIVE_INFINITY;
    const now = Date.now();
    while (this.heap.length > 0 && this.heap[0]!.dueAt <= now) this.fire(this.pop().key);
    this.arm();
  }

  private pop(): { key: string; dueAt: number } {
    const top = this.heap[0]!;
    const last = this.heap.pop()!;
    if (this.heap.length > 0) {
      this.heap[0] = last;
      this.siftDown(0);
    }
    return top;
  }

  private siftUp(index: number): void {
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (this.heap[parent]!.dueAt <= this.heap[index]!.dueAt) return;
      this.swap(parent, index);
      index = parent;
    }
  }

  private siftDown(index: number): void {
    for (;;) {
      const left = index * 2 + 1;
      const right = left + 1;
      let smallest = index;
      if (left < this.heap.length && this.heap[left]!.dueAt < this.heap[smallest]!.dueAt) smallest = left;
      if (right < this.heap.length && this.heap[right]!.dueAt < this.heap[smallest]!.dueAt) smallest = right;
      if (smallest === index) return;
      this.swap(smallest, index);
      index = smallest;
    }
  }

  private swap(a: number, b: number): void {
    [this.heap[a], this.heap[b]] = [this.heap[b]!, this.heap[a]!];
  }
}

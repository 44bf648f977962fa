import type { Clock, ScheduledCallback } from '@cairn/core/world';

/**
 * Fires a callback per key at (never before) its due time on the World's clock, with one
 * scheduled callback for the whole set: a binary min-heap ordered by due time.
 */
export class DelayTimers {
  private readonly heap: { key: string; dueAt: number }[] = [];
  private timer: ScheduledCallback | undefined;
  private armedFor = Number.POSITIVE_INFINITY;

  constructor(
    private readonly clock: Clock,
    private readonly fire: (key: string) => void,
  ) {}

  add(key: string, dueAt: number): void {
    this.heap.push({ key, dueAt });
    this.siftUp(this.heap.length - 1);
    this.arm();
  }

  clear(): void {
    this.heap.length = 0;
    this.timer?.cancel();
    this.timer = undefined;
    this.armedFor = Number.POSITIVE_INFINITY;
  }

  private arm(): void {
    const first = this.heap[0];
    if (!first || first.dueAt >= this.armedFor) return;
    this.timer?.cancel();
    this.armedFor = first.dueAt;
    this.timer = this.clock.schedule(first.dueAt, () => this.onTimer());
  }

  private onTimer(): void {
    this.timer = undefined;
    this.armedFor = Number.POSITIVE_INFINITY;
    const now = this.clock.now();
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

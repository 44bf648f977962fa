/**
 * A double-ended queue on a growable ring buffer: push, unshift and shift are O(1).
 * The queue's ready lists and group backlogs use it, because an array's `shift` copies
 * the whole array and made dispatch quadratic in the backlog.
 */
export class Deque<Item> {
  private items: (Item | undefined)[] = new Array(16);
  private head = 0;
  private size = 0;

  get length(): number {
    return this.size;
  }

  push(item: Item): void {
    this.grow();
    this.items[(this.head + this.size) & (this.items.length - 1)] = item;
    this.size += 1;
  }

  unshift(item: Item): void {
    this.grow();
    this.head = (this.head - 1) & (this.items.length - 1);
    this.items[this.head] = item;
    this.size += 1;
  }

  shift(): Item | undefined {
    if (this.size === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) & (this.items.length - 1);
    this.size -= 1;
    return item;
  }

  /** Doubles the buffer when full; the length stays a power of two so indexes wrap with a mask. */
  private grow(): void {
    if (this.size < this.items.length) return;
    const larger: (Item | undefined)[] = new Array(this.items.length * 2);
    for (let index = 0; index < this.size; index++) {
      larger[index] = this.items[(this.head + index) & (this.items.length - 1)];
    }
    this.items = larger;
    this.head = 0;
  }
}

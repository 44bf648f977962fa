/**
 * How many step bodies a worker runs at once. `acquire` waits in line for a slot, so an
 * attempt that finds the worker busy starts as soon as another finishes, without polling.
 */
export class StepSlots {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(size: number) {
    this.free = size;
  }

  tryAcquire(): boolean {
    if (this.free === 0) return false;
    this.free -= 1;
    return true;
  }

  acquire(): Promise<void> {
    if (this.tryAcquire()) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free += 1;
  }

  available(): number {
    return this.free;
  }
}

import type { Random } from './random.js';

/*
 * A fuzz program is plain JSON: the input of one registered interpreter workflow. Any
 * process that has loaded the interpreter can run any program, so worker processes never
 * need generated code, and a printed program is the whole reproduction.
 */

/** What one attempt of a step body does. */
export type StepOutcome = 'ok' | 'error' | 'retryable' | 'fatal' | 'throw-class' | 'throw-string' | 'throw-object';

/** A value thrown by the workflow body itself. */
export type ThrownValue = 'error' | 'class' | 'string' | 'object';

/** How a hook is read. */
export type HookMode = 'await' | 'iterate' | 'concurrent-next' | 'race-sleep';

export type ProgramNode =
  | { kind: 'step'; id: string; retries: number; outcomes: StepOutcome[]; ms: number }
  | { kind: 'sleep'; id: string; ms: number }
  | { kind: 'sequence'; id: string; children: ProgramNode[] }
  | { kind: 'all' | 'race' | 'all-settled'; id: string; children: ProgramNode[] }
  | { kind: 'try'; id: string; body: ProgramNode }
  | { kind: 'map'; id: string; items: number; concurrency: number; body: ProgramNode }
  | { kind: 'hook'; id: string; mode: HookMode; count: number; tickMs: number }
  | { kind: 'child'; id: string; program: ProgramNode }
  | { kind: 'write'; id: string; chunks: number }
  | { kind: 'throw'; id: string; value: ThrownValue };

/** Program features the generator can use; a test leaves out the ones whose defects are open. */
export type Feature =
  | 'step-failures'
  | 'non-error-throws'
  | 'sleep'
  | 'race-step-sleep'
  | 'hook-await'
  | 'hook-iterate'
  | 'hook-concurrent-next'
  | 'hook-race-sleep'
  | 'all'
  | 'race'
  | 'all-settled'
  | 'map'
  | 'child'
  | 'stream'
  | 'workflow-throw';

export const allFeatures: readonly Feature[] = [
  'step-failures',
  'non-error-throws',
  'sleep',
  'race-step-sleep',
  'hook-await',
  'hook-iterate',
  'hook-concurrent-next',
  'hook-race-sleep',
  'all',
  'race',
  'all-settled',
  'map',
  'child',
  'stream',
  'workflow-throw',
];

export interface GenerateOptions {
  features: ReadonlySet<Feature>;
  /** Longest step body, in ms. Long bodies against a short lease probe lease renewal. */
  maxStepMs: number;
  /** Leaves (steps, sleeps, hooks, writes, throws) in the whole program, children included. */
  maxLeaves: number;
}

/** Generates one program; the same generator state gives the same program. */
export function generateProgram(random: Random, options: GenerateOptions): ProgramNode {
  const generator = new ProgramGenerator(random, options);
  return generator.sequence(0, random.int(2, 5));
}

class ProgramGenerator {
  private nextId = 0;
  private leaves = 0;

  constructor(
    private readonly random: Random,
    private readonly options: GenerateOptions,
  ) {}

  private has(feature: Feature): boolean {
    return this.options.features.has(feature);
  }

  private id(prefix: string): string {
    this.nextId += 1;
    return `${prefix}${this.nextId}`;
  }

  sequence(depth: number, length: number): ProgramNode {
    const children: ProgramNode[] = [];
    for (let index = 0; index < length && this.leaves < this.options.maxLeaves; index++)
      children.push(this.node(depth + 1));
    if (children.length === 0) children.push(this.step());
    return { kind: 'sequence', id: this.id('q'), children };
  }

  node(depth: number): ProgramNode {
    const random = this.random;
    const composite = depth < 3 && this.leaves < this.options.maxLeaves - 2;
    const kinds: (() => ProgramNode)[] = [() => this.step(), () => this.step()];
    if (this.has('sleep')) kinds.push(() => this.sleep());
    if (this.has('stream')) kinds.push(() => this.write());
    for (const mode of ['await', 'iterate', 'concurrent-next', 'race-sleep'] as const)
      if (this.has(`hook-${mode}`)) kinds.push(() => this.hook(mode));
    if (this.has('workflow-throw') && random.chance(0.15)) kinds.push(() => this.throwing());
    if (composite) {
      kinds.push(() => this.sequence(depth, random.int(1, 3)));
      for (const kind of ['all', 'race', 'all-settled'] as const)
        if (this.has(kind)) kinds.push(() => this.combinator(kind, depth));
      if (this.has('race-step-sleep')) kinds.push(() => this.stepAgainstSleep());
      if (this.has('map')) kinds.push(() => this.map(depth));
      if (this.has('child'))
        kinds.push(() => ({ kind: 'child', id: this.id('c'), program: this.sequence(depth + 1, 2) }));
      kinds.push(() => ({ kind: 'try', id: this.id('t'), body: this.node(depth + 1) }));
    }
    return random.pick(kinds)();
  }

  step(): ProgramNode {
    this.leaves += 1;
    const random = this.random;
    const outcomes: StepOutcome[] = [];
    if (this.has('step-failures')) {
      const failures = random.pick([0, 0, 1, 1, 2, 3]);
      const kinds: StepOutcome[] = ['error', 'retryable', 'fatal'];
      if (this.has('non-error-throws')) kinds.push('throw-class', 'throw-string', 'throw-object');
      for (let index = 0; index < failures; index++) outcomes.push(random.pick(kinds));
    }
    outcomes.push('ok');
    return {
      kind: 'step',
      id: this.id('s'),
      retries: random.int(0, 3),
      outcomes,
      ms: random.chance(0.5) ? 0 : random.int(1, this.options.maxStepMs),
    };
  }

  private sleep(): ProgramNode {
    this.leaves += 1;
    return { kind: 'sleep', id: this.id('w'), ms: this.random.int(10, 400) };
  }

  private write(): ProgramNode {
    this.leaves += 1;
    return { kind: 'write', id: this.id('o'), chunks: this.random.int(1, 3) };
  }

  private hook(mode: HookMode): ProgramNode {
    this.leaves += 1;
    return { kind: 'hook', id: this.id('h'), mode, count: this.random.int(1, 3), tickMs: this.random.int(20, 150) };
  }

  private throwing(): ProgramNode {
    this.leaves += 1;
    const values: ThrownValue[] = ['error'];
    if (this.has('non-error-throws')) values.push('class', 'string', 'object');
    return { kind: 'throw', id: this.id('x'), value: this.random.pick(values) };
  }

  private combinator(kind: 'all' | 'race' | 'all-settled', depth: number): ProgramNode {
    const children: ProgramNode[] = [];
    const width = this.random.int(2, 4);
    for (let index = 0; index < width; index++) children.push(this.node(depth + 1));
    return { kind, id: this.id(kind[0]!), children };
  }

  /** A step whose duration straddles a sleep it races: either side may win. */
  private stepAgainstSleep(): ProgramNode {
    this.leaves += 2;
    const ms = this.random.int(30, 300);
    const step: ProgramNode = {
      kind: 'step',
      id: this.id('s'),
      retries: this.random.int(0, 2),
      outcomes: ['ok'],
      ms: Math.max(0, ms + this.random.int(-60, 60)),
    };
    return { kind: 'race', id: this.id('r'), children: [step, { kind: 'sleep', id: this.id('w'), ms }] };
  }

  private map(depth: number): ProgramNode {
    const items = this.random.int(2, 6);
    return {
      kind: 'map',
      id: this.id('m'),
      items,
      concurrency: this.random.int(1, items),
      body: this.node(depth + 2),
    };
  }
}

/** Every node of a program, children's programs included. */
export function* walk(node: ProgramNode): Generator<ProgramNode> {
  yield node;
  if ('children' in node) for (const child of node.children) yield* walk(child);
  if ('body' in node) yield* walk(node.body);
  if (node.kind === 'child') yield* walk(node.program);
}

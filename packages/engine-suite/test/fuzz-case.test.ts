import { describe, expect, it } from 'vitest';
import { allFaultKinds, buildCase } from '../src/fuzz/fuzz-case.js';
import { allFeatures, walk } from '../src/fuzz/program.js';

describe('fuzz cases', () => {
  it('one seed always builds the same case, and seeds differ', () => {
    const options = { sharedAcrossProcesses: true };
    expect(JSON.stringify(buildCase(42, options))).toBe(JSON.stringify(buildCase(42, options)));
    expect(JSON.stringify(buildCase(42, options))).not.toBe(JSON.stringify(buildCase(43, options)));
  });

  it('leaves out the features and faults it is told to', () => {
    const features = new Set(
      allFeatures.filter((feature) => feature !== 'hook-concurrent-next' && feature !== 'child'),
    );
    const faults = new Set(allFaultKinds.filter((fault) => fault !== 'failed-sends' && fault !== 'worker-kill'));
    for (let seed = 0; seed < 200; seed++) {
      const fuzzCase = buildCase(seed, { features, faults, sharedAcrossProcesses: false });
      expect(fuzzCase.faults.world.failSendProbability).toBe(0);
      expect(fuzzCase.faults.kills).toEqual([]);
      for (const program of fuzzCase.programs)
        for (const node of walk(program)) {
          expect(node.kind).not.toBe('child');
          if (node.kind === 'hook') expect(node.mode).not.toBe('concurrent-next');
        }
    }
  });

  it('uses every feature and fault somewhere across a few hundred seeds', () => {
    const seen = new Set<string>();
    for (let seed = 0; seed < 300; seed++) {
      const fuzzCase = buildCase(seed, { sharedAcrossProcesses: true });
      if (fuzzCase.faults.kills.length > 0) seen.add('worker-kill');
      if (fuzzCase.faults.orchestrationLeaseMs < 60_000) seen.add('lease-expiry');
      if (fuzzCase.faults.skewMs.some((skew) => skew !== 0)) seen.add('clock-skew');
      if (fuzzCase.faults.world.failSendProbability > 0) seen.add('failed-sends');
      if (fuzzCase.faults.world.delayAppendMaxMs > 0) seen.add('delayed-appends');
      if (fuzzCase.faults.hookBursts) seen.add('hook-bursts');
      // Both kinds of canceller: one that stays to cascade, one that dies after its cancel.
      if (fuzzCase.faults.cancels.some((cancel) => !cancel.cancellerDies)) seen.add('cancels');
      if (fuzzCase.faults.cancels.some((cancel) => cancel.cancellerDies)) seen.add('cancels-by-dying-canceller');
      if (fuzzCase.faults.cancels.some((cancel) => cancel.child)) seen.add('cancels-of-a-child');
      for (const program of fuzzCase.programs)
        for (const node of walk(program)) {
          seen.add(node.kind === 'hook' ? `hook-${node.mode}` : node.kind);
          if (node.kind === 'step' && node.outcomes.length > 1) seen.add('step-failures');
          if (node.kind === 'step' && node.outcomes.some((outcome) => outcome.startsWith('throw-')))
            seen.add('non-error-throws');
        }
    }
    const expected = [...allFaultKinds, 'hook-await', 'hook-iterate', 'hook-concurrent-next', 'hook-race-sleep'];
    expected.push('all', 'race', 'all-settled', 'map', 'child', 'write', 'throw', 'sleep', 'try');
    expected.push('step-failures', 'non-error-throws', 'cancels-by-dying-canceller', 'cancels-of-a-child');
    expect([...seen].sort()).toEqual(expect.arrayContaining(expected));
  });
});

import { ReplayDivergenceError, sleep, step, workflow } from '@cairn/core';
import { afterEach, describe, expect, it } from 'vitest';
import { checkReplay, createTestEnvironment, type TestEnvironment } from '../src/index.js';

const greet = step('replay.greet', async (name: string) => `hello ${name}`);
const shout = step('replay.shout', async (text: string) => text.toUpperCase());

const v1 = workflow('replay.greeting', async (name: string) => {
  const text = await greet(name);
  await sleep('1d');
  return shout(text);
});
// The same workflow name, reordered: a deploy that would break runs in flight.
const v2Breaking = workflow('replay.greeting', async (name: string) => {
  const text = await shout(name);
  await sleep('1d');
  return greet(text);
});
// The same decisions in the same order, with a harmless change to the output.
const v2Compatible = workflow('replay.greeting', async (name: string) => {
  const text = await greet(name);
  await sleep('1d');
  return `${await shout(text)}!`;
});

describe('replay tests', () => {
  let env: TestEnvironment;
  afterEach(async () => {
    await env?.close();
  });

  it('exports a log to JSON and checks new code against it', async () => {
    env = await createTestEnvironment({ workflows: [v1] });
    const run = await env.client.start(v1, 'ada');
    expect(await run.result()).toBe('HELLO ADA');
    const json = JSON.stringify(await env.exportRun(run.id));

    expect(await checkReplay(v1, json)).toEqual({ status: 'completed', output: 'HELLO ADA' });
    expect(await checkReplay(v2Compatible, json)).toEqual({ status: 'completed', output: 'HELLO ADA!' });
    const verdict = await checkReplay(v2Breaking, json);
    expect(verdict.status).toBe('diverged');
    if (verdict.status === 'diverged') expect(ReplayDivergenceError.is(verdict.error)).toBe(true);
  });

  it('checks a run still in flight: its log ends waiting', async () => {
    env = await createTestEnvironment({ workflows: [v1], autoSkip: false });
    const run = await env.client.start(v1, 'bob');
    await env.waitForSleep(run.id);
    expect(await checkReplay(v1, await env.exportRun(run.id))).toEqual({ status: 'waiting' });
    expect((await checkReplay(v2Breaking, await env.exportRun(run.id))).status).toBe('diverged');
  });

  it('refuses a document that is not a run log, or is of another workflow, naming the field', async () => {
    await expect(checkReplay(v1, '{"hello":1}')).rejects.toThrow(/recorded/);
    await expect(checkReplay(v1, 'not json')).rejects.toThrow(/recorded/);
    const other = workflow('replay.other', async () => 1);
    env = await createTestEnvironment({ workflows: [other] });
    const run = await env.client.start(other, undefined);
    await run.result();
    await expect(checkReplay(v1, await env.exportRun(run.id))).rejects.toThrow(/recorded.workflowName/);
    const log = await env.exportRun(run.id);
    await expect(checkReplay(other, { ...log, events: log.events.slice(1) })).rejects.toThrow(/events/);
  });
});

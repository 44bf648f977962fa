import { bodyFields } from '../wire.js';
import { json, type Route } from './route.js';

export const viewRoutes: Record<string, Route> = {
  'runs.get': json('read', (body, { world }) => world.runs.get(bodyFields(body, ['runId']).runId as never)),
  'runs.list': json('read', (body, { world }) => world.runs.list(bodyFields(body, ['options']).options as never)),
  'steps.get': json('read', (body, { world }) => {
    const { runId, stepId } = bodyFields(body, ['runId', 'stepId']);
    return world.steps.get(runId as never, stepId as never);
  }),
  'steps.list': json('read', (body, { world }) => {
    const { runId, options } = bodyFields(body, ['runId', 'options']);
    return world.steps.list(runId as never, options as never);
  }),
  'hooks.get': json('read', (body, { world }) => {
    const { runId, hookId } = bodyFields(body, ['runId', 'hookId']);
    return world.hooks.get(runId as never, hookId as never);
  }),
  'hooks.getByToken': json('read', (body, { world }) =>
    world.hooks.getByToken(bodyFields(body, ['token']).token as never),
  ),
  'hooks.list': json('read', (body, { world }) => {
    const { runId, options } = bodyFields(body, ['runId', 'options']);
    return world.hooks.list(runId as never, options as never);
  }),
  'waits.get': json('read', (body, { world }) => {
    const { runId, waitId } = bodyFields(body, ['runId', 'waitId']);
    return world.waits.get(runId as never, waitId as never);
  }),
  'waits.list': json('read', (body, { world }) => {
    const { runId, options } = bodyFields(body, ['runId', 'options']);
    return world.waits.list(runId as never, options as never);
  }),
};

import { describe, expect, it } from 'vitest';
import { fixture, isInstalled, runCairn, temporaryDirectory } from './helpers.js';

const commands = [
  [],
  ['runs'],
  ['runs', 'list'],
  ['runs', 'get'],
  ['events'],
  ['steps'],
  ['hooks'],
  ['streams'],
  ['streams', 'list'],
  ['streams', 'read'],
  ['cancel'],
  ['resume'],
  ['replay'],
  ['worker'],
  ['migrate'],
  ['serve'],
  ['dashboard'],
];

describe('cairn usage', () => {
  it('prints --help for every command and exits 0', async () => {
    const results = await Promise.all(commands.map((path) => runCairn([...path, '--help'])));
    results.forEach((result, index) => {
      const path = commands[index]!;
      expect(result.code, path.join(' ')).toBe(0);
      expect(result.stdout, path.join(' ')).toContain(`Usage: cairn${path.length ? ` ${path.join(' ')}` : ''}`);
    });
  });

  it('exits 2 on usage errors and names what was wrong', async () => {
    const directory = await temporaryDirectory();
    const world = `file:${directory}`;
    const cases: [string[], RegExp][] = [
      [['runs', 'list'], /no World given: pass --world <url> or set CAIRN_WORLD/],
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['runs', 'list', '--world', world, '--status', 'lost'], /argument 'lost' is invalid/],
      [['runs', 'list', '--world', world, '--since', 'yesterday'], /--since "yesterday" must be an ISO time/],
      [['runs', 'list', '--world', world, '--limit', '0'], /--limit "0" must be a whole number/],
      [['runs', 'list', '--world', 'mysql://db/cairn'], /unknown scheme "mysql:"/],
      [['runs', 'list', '--world', 'not a url'], /is not a URL/],
      [['runs', 'get', '--world', world], /missing required argument 'runId'/],
      [['resume', 'approve:1', '{not json', '--world', world], /the payload "\{not json" is not JSON/],
      [['replay', '--module', fixture('orders.mjs'), '--world', world], /exactly one of --run <id> or --all/],
      [['replay', '--module', 'missing.mjs', '--all', '--world', world], /--module "missing.mjs" does not exist/],
      [['migrate', '--world', world], /migrate applies to PostgreSQL Worlds/],
      [['resume', 'approve:1', '{}', '--wait', 'soon', '--world', world], /--wait "soon" must be a whole number ≥ 0/],
      [['dashboard', '--world', world, '--port', '70000'], /--port "70000" must be a whole number from 0 to 65535/],
    ];
    const results = await Promise.all(cases.map(([args]) => runCairn(args)));
    results.forEach((result, index) => {
      const [args, message] = cases[index]!;
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr, args.join(' ')).toMatch(message);
    });
  });

  it('exits 1 on failures: a run that does not exist, a directory that does not exist', async () => {
    const directory = await temporaryDirectory();
    const missingRun = await runCairn(['runs', 'get', 'nope', '--world', `file:${directory}`]);
    expect(missingRun.code).toBe(1);
    expect(missingRun.stderr).toMatch(/^error: .*nope/);
    const missingDirectory = await runCairn(['runs', 'list'], { CAIRN_WORLD: `file:${directory}/absent` });
    expect(missingDirectory.code).toBe(1);
    expect(missingDirectory.stderr).toContain('no such directory');
  });

  for (const [packageName, url, args] of [
    ['@cairn/world-redis', 'redis://127.0.0.1:6379', ['runs', 'list']],
    ['@cairn/world-http', 'http://127.0.0.1:4700', ['runs', 'list']],
    ['@cairn/world-http', 'file:./.cairn', ['serve', '--token', 'secret']],
  ] as const) {
    it(`names ${packageName} when ${args[0]} needs it and it is not installed`, async (context) => {
      if (await isInstalled(packageName)) context.skip(`${packageName} is installed here`);
      const result = await runCairn([...args, '--world', url]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`needs the package ${packageName}, which is not installed`);
      expect(result.stderr).toContain(`npm install ${packageName}`);
    });
  }
});

/**
 * What the documentation's code blocks rely on but do not show. A block names its prelude in
 * a comment right above it (`<!-- doc-test: prelude=name -->`); the prelude's code is put
 * before the block's, so it must not import names the block imports too.
 */
export const preludes: Record<string, string> = {
  // The README's first example calls a payment API and a shipping API the reader owns.
  'payment-and-shipping-apis': `
const paymentApi = {
  charge: async (orderId: string, cents: number) => ({ chargeId: \`ch_\${orderId}\`, cents }),
};
const shippingApi = {
  ship: async (item: string) => ({ item, trackingId: \`1Z-\${item}\` }),
};
`,
  // "Writing a World": the reader's own World factory; world-local stands in for it here.
  'my-world': `
import { mkdtempSync as makeWorldDirectory } from 'node:fs';
import { tmpdir as worldTemporaryDirectory } from 'node:os';
import { join as joinWorldPath } from 'node:path';
import { createLocalWorld as createStandInWorld } from '@cairn/world-local';
const createMyWorld = () =>
  createStandInWorld({ dir: makeWorldDirectory(joinWorldPath(worldTemporaryDirectory(), 'cairn-my-world-')) });
`,
};

/**
 * Blocks that do not work yet, each with the reason and the failure it must show meanwhile.
 * A pending block that starts passing fails the test, so it is taken off this list.
 */
export const pending: { file: string; contains: string; reason: string; failsWith: RegExp }[] = [];

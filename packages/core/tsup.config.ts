import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts', 'world/index': 'src/world/index.ts' },
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
});

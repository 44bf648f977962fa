import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts', storms: 'src/storms/public.ts', 'fuzz-process': 'src/fuzz/fuzz-process.ts' },
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  external: ['vitest'],
});

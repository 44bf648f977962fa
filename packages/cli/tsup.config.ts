import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts', 'src/bin.ts'],
  format: ['esm'],
  dts: { entry: 'src/index.ts' },
  sourcemap: true,
  clean: true,
  target: 'node20',
  // World packages are optional peers, loaded with import() only when a URL names them.
  external: ['@cairn/world-local', '@cairn/world-postgres', '@cairn/world-redis', '@cairn/world-http'],
});

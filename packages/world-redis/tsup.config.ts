import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts', 'src/testing.ts'],
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  // The Lua scripts are read at runtime from dist/scripts, next to the bundle.
  onSuccess: 'mkdir -p dist/scripts && cp src/scripts/*.lua dist/scripts/',
});

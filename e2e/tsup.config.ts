import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/worker-process.ts', 'src/server-process.ts'],
  format: ['esm'],
  sourcemap: true,
  clean: true,
  target: 'node20',
});

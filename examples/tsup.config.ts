import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { demo: 'src/demo.ts', 'order-pipeline': 'src/order-pipeline.ts' },
  format: ['esm'],
  sourcemap: true,
  clean: true,
  target: 'node20',
});

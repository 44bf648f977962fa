export { createLocalWorld, type LocalWorld, type LocalWorldOptions } from './local-world.js';

// The authoring API and engine arrive with the engine issue; the World contract lives at
// `@cairn/core/world`.
export * from './world/index.js';

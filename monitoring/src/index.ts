/** The monitoring contract (names, selectors, objectives) and the renderers built on it. */
export * from './contract';
export * from './render';
export * from './operator';

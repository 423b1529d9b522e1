/** The monitoring contract (names, selectors, objectives, metric names), the PromQL builders, the rules and the renderers built on it. */
export * from './contract';
export * from './promql';
export * from './rules';
export * from './kubernetes-rules';
export * from './cnpg-cluster-state';
export * from './render';
export * from './operator';

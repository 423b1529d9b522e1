/** What an event type may be: also what an operator may list in METRIC_EVENT_TYPES (config.ts stays free of the API schemas). */
export const EVENT_TYPE = /^[A-Za-z0-9_.:-]+$/;

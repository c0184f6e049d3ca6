/** Injection token of the shared command connection (not for blocking commands or BullMQ). */
export const REDIS = Symbol('REDIS');

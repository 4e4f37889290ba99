/** What Azure's answers mean to the driver: absent (404), already there (409), or an error to pass on. */
import { RestError } from '@azure/storage-blob';
import { orUndefined } from './absent.js';

export function statusOf(e: unknown): number | undefined {
  return e instanceof RestError ? e.statusCode : undefined;
}

/** A write refused because the blob exists (If-None-Match * on Put Blob, or a copy's target condition). */
export function alreadyThere(e: unknown): boolean {
  return statusOf(e) === 409 || (e instanceof RestError && e.code === 'TargetConditionNotMet');
}

/** The promise's value, or undefined when Azure answered 404; other errors propagate unchanged. */
export function orAbsent<T>(p: Promise<T>): Promise<T | undefined> {
  return orUndefined(p, (e) => statusOf(e) === 404);
}

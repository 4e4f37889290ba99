import { isOciError, type OciError } from 'georeg/oci';

/** The OciError `fn` throws (any other outcome fails the test). */
export function ociErrorOf(fn: () => unknown): OciError {
  try {
    fn();
  } catch (e) {
    if (isOciError(e)) return e;
    throw e;
  }
  throw new Error('expected an OciError, nothing was thrown');
}

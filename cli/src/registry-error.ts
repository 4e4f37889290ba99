/** A failed registry request: the HTTP status (undefined when no answer came) and the OCI error code, if any. */
export class RegistryError extends Error {
  override name = 'RegistryError';
  constructor(
    message: string,
    readonly status?: number,
    readonly code?: string,
    readonly detail?: unknown,
  ) {
    super(message);
  }
}

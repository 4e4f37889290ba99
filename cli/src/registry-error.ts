/**
 * A failed registry request: the HTTP status (undefined when no answer came) and the OCI error
 * code, if any. When the registry could not be reached, `cause` is the network error.
 */
export class RegistryError extends Error {
  override name = 'RegistryError';
  constructor(
    message: string,
    readonly status?: number,
    readonly code?: string,
    readonly detail?: unknown,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * A failed registry request: the HTTP status (undefined when no answer came) and the OCI error
 * code, if any, from any registry. When the answer decodes to an error of georeg's table
 * (`OciError.fromBody`), `cause` is that OciError; when the registry could not be reached, the
 * network error.
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

/**
 * Poll `check` until it returns a value or `ms` pass: when there is no event to
 * await (across processes, or a database's state). A check that throws counts as not yet; the last error is
 * in the timeout's message.
 */
export async function poll<T>(ms: number, what: string, check: () => Promise<T | undefined>, everyMs = 25): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    const v = await check().catch((e: unknown) => {
      last = e;
      return undefined;
    });
    if (v !== undefined) return v;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last instanceof Error ? ` (last error: ${last.message})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

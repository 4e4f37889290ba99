/** The promise's value, or undefined when it rejects with an error `absent` recognizes (a 404); other errors propagate unchanged. */
export async function orUndefined<T>(p: Promise<T>, absent: (e: unknown) => boolean): Promise<T | undefined> {
  try {
    return await p;
  } catch (e) {
    if (absent(e)) return undefined;
    throw e;
  }
}

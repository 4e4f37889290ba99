/**
 * Memory for O_DIRECT I/O, which needs offsets, lengths and buffers aligned to
 * the device's block. Node's own buffers are not page-aligned; a WebAssembly
 * memory is mapped page-aligned, in 64 KiB pages.
 */

/** The alignment O_DIRECT needs of offsets, lengths and memory on any block device. */
export const BLOCK = 4096;
/** WebAssembly's page: aligned buffers come in multiples of it. */
export const WASM_PAGE = 64 * 1024;

/** A page-aligned buffer of `bytes` (a multiple of WASM_PAGE); throws RangeError when none can be mapped. */
export function alignedBuffer(bytes: number): Buffer {
  return Buffer.from(new WebAssembly.Memory({ initial: bytes / WASM_PAGE }).buffer);
}

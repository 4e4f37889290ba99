/**
 * ui/grammar.js, which the node generates from its own grammar (grammarJs in
 * nodes/src/ui/assets.ts, from oci/src/names.ts and digest.ts).
 */

/** A repository name. */
export declare const NAME: RegExp;
/** A tag. */
export declare const TAG: RegExp;
/** A digest, `<algorithm>:<encoded>`, whatever the algorithm. */
export declare const DIGEST: RegExp;
/** The encoded part of a digest of a supported algorithm. */
export declare const HEX: RegExp;
/** The supported digest algorithms, each with the length of its encoded part. */
export declare const DIGEST_HEX_LENGTHS: ReadonlyMap<string, number>;
export declare const MAX_NAME_LENGTH: number;

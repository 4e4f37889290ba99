import type { Digest } from './digest.js';
import { MediaTypes } from './media-types.js';

/** An OCI content descriptor (image-spec `descriptor.md`). */
export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  /** Where a foreign layer can be fetched from. */
  urls?: string[];
  /** An index entry's platform. */
  platform?: { architecture: string; os: string; variant?: string };
}

/** The empty JSON blob `{}` (image-spec's empty descriptor), the config of artifacts that need none. */
export const EMPTY_BLOB = Buffer.from('{}');
export const EMPTY_DESCRIPTOR: Descriptor = {
  mediaType: MediaTypes.ociEmpty,
  digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a' as Digest,
  size: 2,
};

/**
 * PeerStatus alone, without the gRPC (and so Node) types the rest of the wire
 * contract brings: for code type-checked as browser code (nodes/ui, through
 * nodes/src/status.ts).
 */
export { PeerStatus } from './gen/georeg/v1/status.js';

#!/usr/bin/env bash
# Regenerate proto/gen from proto/georeg/**/*.proto with protoc and ts-proto.
# `npm run proto` runs this; a test fails when the committed output is stale.
set -euo pipefail
cd "$(dirname "$0")"
out="${1:-gen}"
mkdir -p "$out"
protoc \
  --plugin=protoc-gen-ts_proto=../node_modules/.bin/protoc-gen-ts_proto \
  --ts_proto_out="$out" \
  --ts_proto_opt=outputServices=grpc-js,esModuleInterop=true,importSuffix=.js,env=node,forceLong=number,useOptionals=messages,oneof=unions-value \
  -I . \
  georeg/v1/events.proto georeg/v1/replication.proto georeg/v1/status.proto georeg/v1/store.proto

#!/bin/sh
# Generates the Python stubs of the sltd API from the .proto files into
# ./generated (not committed: the .proto is the source of truth).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
proto="$here/../../proto"
mkdir -p "$here/generated"
python3 -m grpc_tools.protoc \
    -I "$proto" \
    --python_out="$here/generated" \
    --grpc_python_out="$here/generated" \
    "$proto/sltd/v1/lookup.proto"
echo "stubs written to $here/generated/sltd/v1/"

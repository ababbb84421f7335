#!/usr/bin/env bash
# Regenerates the golden files of this folder with the reference sops (3.11.0): for each
# input <case>.bin, <case>.{default,indent2,indent0}.enc (the JSON wrapper), <case>.dec (sops -d)
# and <case>.dec.json (sops -d --output-type json). Compared by sops-core/src/format/binary.rs.
set -euo pipefail
cd "$(dirname "$0")"
SOPS=${SOPS:-/work/main/.tools/venv/bin/sops}
export SOPS_AGE_KEY_FILE=${SOPS_AGE_KEY_FILE:-/work/main/testdata/age-key.txt}
R=age1zjgh38ennst33g7ntq5un7x6urrnvqpl6p7ulxjdhrynj708lgwsj8jrqx
for f in *.bin; do
  c=${f%.bin}
  "$SOPS" -e --age $R "$f" > "$c.default.enc"
  "$SOPS" -e --indent 2 --age $R "$f" > "$c.indent2.enc"
  "$SOPS" -e --indent 0 --age $R "$f" > "$c.indent0.enc"
  "$SOPS" -d "$c.default.enc" > "$c.dec"
  "$SOPS" -d --output-type json "$c.default.enc" > "$c.dec.json"
done

#!/bin/sh
# Regenerates the golden files under testdata/yaml/golden from testdata/yaml/cases with the
# reference sops binary. Run from anywhere; needs SOPS (default: /work/main/.tools/venv/bin/sops).
set -u
here=$(cd "$(dirname "$0")" && pwd)
SOPS=${SOPS:-/work/main/.tools/venv/bin/sops}
export SOPS_AGE_KEY_FILE=${SOPS_AGE_KEY_FILE:-/work/main/testdata/age-key.txt}
R=age1zjgh38ennst33g7ntq5un7x6urrnvqpl6p7ulxjdhrynj708lgwsj8jrqx
mkdir -p "$here/golden"
cd "$here/cases"
for f in *.yaml; do
  n=${f%.yaml}
  g="$here/golden/$n"
  "$SOPS" -e --age $R "$f" > "$g.enc.yaml" 2>/dev/null
  "$SOPS" -d "$g.enc.yaml" > "$g.dec.yaml" 2>/dev/null
  "$SOPS" -e --age $R --encrypted-regex '^NOMATCH$' "$f" > "$g.plain.yaml" 2>/dev/null
  "$SOPS" -e --age $R --indent 2 "$f" > "$g.i2.enc.yaml" 2>/dev/null
  "$SOPS" -d --indent 2 "$g.i2.enc.yaml" > "$g.i2.dec.yaml" 2>/dev/null
  # sops's own re-emission of its decrypted output (comments kept plain).
  "$SOPS" -e --age $R --encrypted-regex '^NOMATCH$' "$g.dec.yaml" > "$g.dec.plain.yaml" 2>/dev/null
done
cd "$here/errors"
for f in *.yaml; do
  n=${f%.yaml}
  "$SOPS" -e --age $R "$f" > /dev/null 2> "$n.err"
  echo "rc=$?" >> "$n.err"
done

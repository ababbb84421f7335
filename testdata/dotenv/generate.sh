#!/bin/sh
# Regenerates the golden files of testdata/dotenv and testdata/ini with the reference sops.
# For each cases/NAME.EXT: NAME.enc.EXT (sops -e) and NAME.dec.EXT (sops -d of that file).
# Exits on the first file sops refuses to encrypt.
# For each errors/NAME.EXT: NAME.err, the first stderr line of `sops -e` and its exit code.
set -eu
SOPS=${SOPS:-/work/main/.tools/venv/bin/sops}
export SOPS_AGE_KEY_FILE=${SOPS_AGE_KEY_FILE:-/work/main/testdata/age-key.txt}
RECIPIENT=age1zjgh38ennst33g7ntq5un7x6urrnvqpl6p7ulxjdhrynj708lgwsj8jrqx
ROOT=$(cd "$(dirname "$0")/.." && pwd)
for fmt in dotenv ini; do
  ext=$fmt; [ "$fmt" = dotenv ] && ext=env
  for f in "$ROOT/$fmt"/cases/*."$ext"; do
    case "$f" in *.enc.$ext|*.dec.$ext) continue;; esac
    base=${f%.$ext}
    "$SOPS" -e --age "$RECIPIENT" "$f" > "$base.enc.$ext"
    # A file sops cannot decrypt again (e.g. INI `-` keys) gets NAME.dec.err instead.
    rc=0
    "$SOPS" -d --input-type "$fmt" --output-type "$fmt" "$base.enc.$ext" > "$base.dec.$ext" 2> "$base.stderr" || rc=$?
    if [ "$rc" != 0 ]; then
      rm -f "$base.dec.$ext"; { echo "$rc"; head -n 1 "$base.stderr"; } > "$base.dec.err"
    fi
    rm -f "$base.stderr"
  done
  for f in "$ROOT/$fmt"/errors/*."$ext"; do
    base=${f%.$ext}
    rc=0
    "$SOPS" -e --age "$RECIPIENT" "$f" > /dev/null 2> "$base.stderr" || rc=$?
    { echo "$rc"; head -n 1 "$base.stderr"; } > "$base.err"
    rm -f "$base.stderr"
  done
done

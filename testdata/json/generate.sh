#!/usr/bin/env bash
# Regenerates the golden files of this folder with the reference sops (3.11.0).
# Inputs are the files named <case>.json; outputs are <case>.<variant>.{enc,dec}.json,
# extract.tsv (--extract results) and errors.tsv (error messages), all compared by the
# tests in sops-core/src/format/json.rs.
set -euo pipefail
cd "$(dirname "$0")"
SOPS=${SOPS:-/work/main/.tools/venv/bin/sops}
export SOPS_AGE_KEY_FILE=${SOPS_AGE_KEY_FILE:-/work/main/testdata/age-key.txt}
R=age1zjgh38ennst33g7ntq5un7x6urrnvqpl6p7ulxjdhrynj708lgwsj8jrqx
for f in $(ls *.json | grep -v '\.\(enc\|dec\)\.json$'); do
  c=${f%.json}
  "$SOPS" -e --age $R "$f" > "$c.default.enc.json"
  "$SOPS" -e --indent 2 --age $R "$f" > "$c.indent2.enc.json"
  "$SOPS" -e --indent 0 --age $R "$f" > "$c.indent0.enc.json"
  "$SOPS" -d "$c.default.enc.json" > "$c.default.dec.json"
  "$SOPS" -d --indent 2 "$c.default.enc.json" > "$c.indent2.dec.json"
  "$SOPS" -d --indent 0 "$c.default.enc.json" > "$c.indent0.dec.json"
done
# --extract: path <TAB> indent (-1 = default) <TAB> hex of the output.
: > extract.tsv
for p in '["a"]["b"]' '["a"]["n"]' '["a"]["f"]' '["a"]["t"]' '["a"]["z"]' '["a"]["m"]' '["a"]["l"]' \
         '["a"]["e"]' '["a"]["el"]' '["a"]["eo"]' '["a"]["u"]' '["a"]["big"]' '["a"]["deep"]' '["a"]' \
         '["a"]["l"][1]' '["a"]["m"]["l"]'; do
  for ind in -1 0 2; do
    if [ "$ind" = -1 ]; then out=$("$SOPS" -d --extract "$p" extract.default.enc.json | xxd -p | tr -d '\n')
    else out=$("$SOPS" -d --indent $ind --extract "$p" extract.default.enc.json | xxd -p | tr -d '\n'); fi
    printf '%s\t%s\t%s\n' "$p" "$ind" "$out" >> extract.tsv
  done
done
# Errors: mode <TAB> hex of the input <TAB> sops's message (first stderr line, CLI prefix removed).
: > errors.tsv
plain_err() {
  printf '%s' "$1" > /tmp/jsonbin-err.json
  msg=$("$SOPS" -e --age $R /tmp/jsonbin-err.json 2>&1 >/dev/null | head -1 | sed 's/^Error unmarshalling file: //') || true
  printf 'plain\t%s\t%s\n' "$(printf '%s' "$1" | xxd -p | tr -d '\n')" "$msg" >> errors.tsv
}
enc_err() {
  printf '%s' "$1" > /tmp/jsonbin-err.json
  msg=$("$SOPS" -d /tmp/jsonbin-err.json 2>&1 >/dev/null | head -1) || true
  printf 'encrypted\t%s\t%s\n' "$(printf '%s' "$1" | xxd -p | tr -d '\n')" "$msg" >> errors.tsv
}
for s in '' '   ' '[1]' '"str"' '"a\u0001\n\"é"' '1' '-1.5e300' 'true' 'false' 'null' '{' '{"a":1' '{"a":{"b"' '{"a":{"b":1' \
  '{x}' '{"a" 1}' '{"a":1 "b":2}' '{"a":[1 2]}' '{"a":1,}' '{"a":1e400}' '{"a":-1e400}' '{"a":tru}' '{"a":tru' \
  '{"a":"abc' '{"' '{"a":01}' '{"a":+1}' '{"a":1.}' '{"a":1e}' '{"a":1e+}' '{"a":"\x"}' '{"a":"\u12G4"}' \
  "$(printf '{"a":"\x01"}')" "$(printf '{"a":"\n"}')" "$(printf '\xef\xbb\xbf{}')" ']' '}' '{]' '{"a":]}' '{,}' '{"a",}' '{"a"::1}' \
  '{"a":[,]}' '{"a":[1,]}' "$(printf '{"a":\xc3\xa9}')" "$(printf '{\x80}')" "$(printf '{\xa0}')" "$(printf '{\xad}')" \
  '{"a":nul}' '{"a":-}' '{"a":1.5.3}' "{'a':1}" '{"a":fals}' '{"a":"\' '{"a":"\u12' '{"a":[' '{"a":[{"b"' \
  '{"a":1}}' '[1 2]' '{"a":-x}' '{"a":.5}' '{"a":1,"b"' ; do
  plain_err "$s"
  enc_err "$s"
done

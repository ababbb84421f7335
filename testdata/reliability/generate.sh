#!/usr/bin/env bash
# Regenerates the encrypted samples of the reliability tests with the reference sops
# (TOML with ours: sops has no TOML). Run from this directory.
set -euo pipefail
SOPS=${SOPS_REFERENCE:-../../.tools/venv/bin/sops}
export SOPS_AGE_KEY_FILE=../age-key.txt
R=age1zjgh38ennst33g7ntq5un7x6urrnvqpl6p7ulxjdhrynj708lgwsj8jrqx
"$SOPS" -e --age "$R" sample.env > sample.enc.env
"$SOPS" -e --age "$R" sample.ini > sample.enc.ini
"$SOPS" -e --age "$R" sample.bin > sample.enc.bin
"${OUR_SOPS:-../../target/debug/sops}" -e --age "$R" sample.toml > sample.enc.toml

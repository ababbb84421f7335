#!/usr/bin/env python3
"""Randomized comparison of our YAML store with the reference sops (3.11).

Usage: compare.py FIRST_SEED LAST_SEED [GENERATOR]   (GENERATOR: fuzz_edges.py by default;
fuzz_gen.py makes comment-heavy documents). For each generated document: both binaries
encrypt it (same exit code required); each encrypted file is decrypted by both binaries with
`--output-type json` (same data required); a file the reference wrote decrypts with ours to
the bytes the reference prints (skipped where sops leaves `ENC[` in its own output). Prints
each difference with its document; reproducible from the seed.

Known, deliberate differences it reports (README, "Differences from sops"): a string starting
with a tab and holding a newline (sops prints `null`), comments sops drops or leaves encrypted.
Environment: SOPS_REF, SOPS_OURS (binaries), SOPS_AGE_KEY_FILE.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
REF = os.environ.get("SOPS_REF", "/work/main/.tools/venv/bin/sops")
OURS = os.environ.get("SOPS_OURS", os.path.join(ROOT, "target/debug/sops"))
KEY = os.environ.get("SOPS_AGE_KEY_FILE", os.path.join(ROOT, "testdata/age-key.txt"))
RECIPIENT = next(
    line.split(": ", 1)[1].strip()
    for line in open(KEY)
    if line.startswith("# public key:")
)
ENV = dict(os.environ, SOPS_AGE_KEY_FILE=KEY)


def run(binary, args, cwd):
    p = subprocess.run(
        [binary, "--disable-version-check"] + args, cwd=cwd, env=ENV, capture_output=True
    )
    first = p.stderr.decode(errors="replace").strip().splitlines()[:1]
    return p.returncode, p.stdout, first


def main():
    lo, hi = int(sys.argv[1]), int(sys.argv[2])
    gen = sys.argv[3] if len(sys.argv) > 3 else os.path.join(HERE, "fuzz_edges.py")
    diffs = 0
    for seed in range(lo, hi):
        doc = subprocess.run(["python3", gen, str(seed)], capture_output=True).stdout
        d = tempfile.mkdtemp()
        with open(os.path.join(d, "in.yaml"), "wb") as f:
            f.write(doc)
        enc = {}
        for name, b in (("ref", REF), ("ours", OURS)):
            rc, out, err = run(b, ["-e", "--age", RECIPIENT, "in.yaml"], d)
            enc[name] = (rc, err)
            if rc == 0:
                with open(os.path.join(d, name + ".enc.yaml"), "wb") as f:
                    f.write(out)
        problems = []
        if enc["ref"][0] != enc["ours"][0]:
            problems.append(
                "encrypt exit codes: ref %s %s, ours %s %s"
                % (enc["ref"][0], enc["ref"][1], enc["ours"][0], enc["ours"][1])
            )
        elif enc["ref"][0] == 0:
            base = run(REF, ["-d", "--output-type", "json", "ref.enc.yaml"], d)
            for who in ("ref", "ours"):
                for b in (REF, OURS):
                    got = run(b, ["-d", "--output-type", "json", who + ".enc.yaml"], d)
                    if base[0] == 0 and (got[0], got[1]) != (base[0], base[1]):
                        problems.append("data of %s's file read by %s differs" % (who, b))
            r = run(REF, ["-d", "ref.enc.yaml"], d)
            o = run(OURS, ["-d", "ref.enc.yaml"], d)
            if r[0] == 0 and b"ENC[AES256_GCM" not in r[1] and r[1] != o[1]:
                problems.append("the reference's file decrypts to other bytes with ours")
        shutil.rmtree(d, ignore_errors=True)
        if problems:
            diffs += 1
            print("== seed %d: %s" % (seed, "; ".join(problems)))
            print(json.dumps(doc.decode(errors="replace")))
    print("seeds %d..%d: %d with differences" % (lo, hi, diffs))


if __name__ == "__main__":
    main()

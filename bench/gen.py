#!/usr/bin/env python3
"""Writes deterministic benchmark inputs: small (~10 entries), medium (~1 000), large (~20 000
entries, ~4.3 MB YAML) of nested maps, lists, ints, bools, floats and comments, in YAML and JSON.
Usage: gen.py OUTDIR [small|medium|large ...]   (default: all three sizes)"""
import json
import random
import sys

def make(entries, seed):
    rnd = random.Random(seed)
    doc = {}
    for i in range(entries):
        doc[f"service_{i:05d}"] = {
            "host": f"host-{rnd.randrange(10**6)}.example.com",
            "port": rnd.randrange(1, 65535),
            "enabled": rnd.random() < 0.5,
            "ratio": round(rnd.random(), 6),
            "password": "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(24)),
            "tags": [f"tag{rnd.randrange(100)}" for _ in range(3)],
        }
    return doc

def to_yaml(doc):
    out = ["# generated benchmark file"]
    for k, v in doc.items():
        out.append(f"# {k}")
        out.append(f"{k}:")
        for kk, vv in v.items():
            if isinstance(vv, list):
                out.append(f"    {kk}:")
                out.extend(f"        - {x}" for x in vv)
            elif isinstance(vv, bool):
                out.append(f"    {kk}: {'true' if vv else 'false'}")
            else:
                out.append(f"    {kk}: {vv}")
    return "\n".join(out) + "\n"

SIZES = {"small": 10, "medium": 1000, "large": 20000}
outdir = sys.argv[1]
for name in sys.argv[2:] or SIZES:
    n = SIZES[name]
    doc = make(n, 42)
    with open(f"{outdir}/{name}.yaml", "w") as f:
        f.write(to_yaml(doc))
    with open(f"{outdir}/{name}.json", "w") as f:
        json.dump(doc, f, indent=2)

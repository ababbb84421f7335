#!/usr/bin/env python3
"""Generator of YAML edge cases for compare.py: block scalars of every indicator (at the end
of the file with and without a line break), tabs, NEL/LS/PS, tags, escapes, merge keys,
aliases (also as keys and across documents), %YAML directives, inline comments.
Usage: fuzz_edges.py SEED (prints one document)."""
import random, sys
seed = int(sys.argv[1]); random.seed(seed)
atoms = ["x", "1", "true", "~", "", "a b", "0x1F", "1.5", "<<", "'q'", '"d\\tq"', '"\\/"', '"\\ud83d\\ude00"', '"it\\\'s"',
         "\u2028", "x\u2028y", "x\u0085y", "\ufeffz", "! 1", "!", "!<tag:yaml.org,2002:int> 7", "!<tag:yaml.org,2002:str> 7",
         "!!int 3", "!!str 4", "!x", "&a", "&b 5", "*b", '"a\\x41"', "'x\u2028    y'", '"x\u2029y"']
def scalar():
    return random.choice(atoms)
def block(ind):
    head = random.choice(["|", ">", "|-", "|+", ">-", ">+", "|1", "|2", "|4", ">2"])
    lines = []
    for _ in range(random.randint(1, 3)):
        lines.append(" " * (ind + 2) + random.choice(["t", "t u", " lead", "\ttab", "", "# not comment", "x\u2028y"]))
    return head, lines
def comment(): return "# c%d" % random.randint(0, 99)
def gen_map(ind, depth, out):
    for i in range(random.randint(1, 3)):
        if random.random() < 0.2: out.append(" " * ind + random.choice([comment(), "\t", "", "  \t", comment() + "\u2028x: 1"]))
        k = random.choice(["k%d" % i, "<<", '"<<"', "*b", "k\u2028%d" % i, "k%d" % i])
        if k == "*b": k = "*b "
        r = random.random()
        if depth < 2 and r < 0.2:
            out.append(" " * ind + k + ":")
            gen_map(ind + 2, depth + 1, out)
        elif depth < 2 and r < 0.35:
            out.append(" " * ind + k + ":")
            for _ in range(random.randint(1, 2)):
                out.append(" " * (ind + 2) + "- " + scalar() + (" " + comment() if random.random() < 0.3 else ""))
        elif r < 0.55:
            h, lines = block(ind)
            out.append(" " * ind + k + ": " + h + (" " + comment() if random.random() < 0.2 else ""))
            out.extend(lines)
        else:
            out.append(" " * ind + k + ": " + scalar() + (" " + comment() if random.random() < 0.3 else ""))
out = []
if random.random() < 0.1: out.append("%YAML 1." + random.choice(["1", "2"])); out.append("---")
out.append("base: &b {m: 1}")
gen_map(0, 0, out)
if random.random() < 0.3:
    out.append("---")
    gen_map(0, 0, out)
text = "\n".join(out)
if random.random() < 0.6: text += "\n"
sys.stdout.write(text)

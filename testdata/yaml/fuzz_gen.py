import random, sys
random.seed(int(sys.argv[1]))
words = ["alpha", "beta", "x", "y2", "key", "val ue", "1", "0x10", "true", "~", "'q'", "\"dq\"", "'a: b'", "'#h'", "'- d'", "1.5", "2024-01-02", "yes", ""]
cid = [0]
def comment():
    cid[0] += 1
    return f"# c{cid[0]}"
def scalar():
    w = random.choice(words)
    if w == "": return '""'
    return w
def maybe_tc():
    return (" " + comment()) if random.random() < 0.3 else ""
def own_comments(ind, out):
    while random.random() < 0.25:
        extra = random.choice([0, 0, 0, 2, -2])
        out.append(" " * max(0, ind + extra) + comment())
def gen_map(ind, depth, out):
    n = random.randint(1, 3)
    for i in range(n):
        own_comments(ind, out)
        k = f"k{random.randint(0, 999)}_{depth}_{i}"
        r = random.random()
        if depth < 3 and r < 0.3:
            out.append(" " * ind + k + ":" + maybe_tc())
            gen_map(ind + 2, depth + 1, out)
        elif depth < 3 and r < 0.55:
            out.append(" " * ind + k + ":" + maybe_tc())
            gen_seq(ind + random.choice([0, 2]), depth + 1, out)
        else:
            out.append(" " * ind + k + ": " + scalar() + maybe_tc())
    own_comments(ind, out)
def gen_seq(ind, depth, out):
    n = random.randint(1, 3)
    for i in range(n):
        own_comments(ind, out)
        r = random.random()
        if depth < 3 and r < 0.3:
            sub = []
            gen_map(ind + 2, depth + 1, sub)
            first = sub[0]
            if first.lstrip().startswith("#"):
                out.append(" " * ind + "-" + maybe_tc())
                out.extend(sub)
            else:
                out.append(" " * ind + "- " + first[ind + 2:])
                out.extend(sub[1:])
        elif depth < 3 and r < 0.45:
            out.append(" " * ind + "-" + maybe_tc())
            gen_seq(ind + 2, depth + 1, out)
        else:
            out.append(" " * ind + "- " + scalar() + maybe_tc())
    own_comments(ind, out)
out = []
own_comments(0, out)
gen_map(0, 0, out)
print("\n".join(out))

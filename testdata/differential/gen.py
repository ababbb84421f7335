"""Seeded document generator for the differential harness (scripts/differential).

A document is a format name, a list of *items* (text fragments joined in order) and a set of
*flags* (whole-document transformations: CRLF line ends, a BOM, no final newline, ...). The
driver minimises a document that shows a difference by dropping items, then flags, then single
lines, so every fragment here is meant to be removable on its own.

Everything is drawn from one `random.Random`, so `(seed, index, format)` names a document.
Standard library only.
"""

import json
import random

FORMATS = ("yaml", "json", "dotenv", "ini", "binary")
EXT = {"yaml": "yaml", "json": "json", "dotenv": "env", "ini": "ini", "binary": "bin"}


class Doc:
    """One generated document: `fmt`, `items` (list of str) and `flags` (set of str)."""

    def __init__(self, fmt, items, flags=()):
        self.fmt = fmt
        self.items = list(items)
        self.flags = set(flags)

    def copy(self, items=None, flags=None):
        return Doc(self.fmt, self.items if items is None else items,
                   self.flags if flags is None else flags)

    def render(self):
        """The document's bytes."""
        if self.fmt == "json":
            text = render_json(self.items, self.flags)
        elif self.fmt == "binary":
            return "".join(self.items).encode("utf-8", "surrogateescape")
        else:
            text = "".join(self.items)
        if "no_final_newline" in self.flags:
            text = text.rstrip("\n")
        if "crlf" in self.flags:
            text = text.replace("\r\n", "\n").replace("\n", "\r\n")
        data = encode(text)
        if "bom" in self.flags:
            data = b"\xef\xbb\xbf" + data
        return data

    def to_json(self):
        return {"fmt": self.fmt, "items": self.items, "flags": sorted(self.flags)}

    @staticmethod
    def from_json(obj):
        return Doc(obj["fmt"], obj["items"], obj["flags"])


def encode(text):
    """UTF-8, except that U+DC80..U+DCFF stand for the raw bytes 0x80..0xFF (invalid UTF-8)."""
    out = bytearray()
    for ch in text:
        o = ord(ch)
        if 0xDC80 <= o <= 0xDCFF:
            out.append(o - 0xDC00)
        else:
            out += ch.encode("utf-8", "surrogatepass")
    return bytes(out)


def pick(rng, *choices):
    return rng.choice(choices)


def chance(rng, p):
    return rng.random() < p


# ---------------------------------------------------------------- YAML

YAML_PLAIN = [
    "x", "hello world", "val ue", "a:b", "a #b", "-x", "?x", "x-y", "héllo ☃ 日本", "😀",
    "017", "0o17", "0x1F", "0b101", "1_000", "+12", "-0", "08", "00", "0x_1F", "1__0", "-17",
    "12345678901234567890", "9223372036854775807", "-9223372036854775808", "9223372036854775808",
    "1e3", "1.0", "1.", ".5", "-1e6", "1e-7", "3.0e20", "1e400", "5e-324", "123456.789e3",
    "0.1", "1234567.0", ".inf", "-.Inf", "+.INF", ".NaN", ".nan",
    "2024-01-02", "2024-1-2", "2024-01-02T03:04:05Z", "2024-01-02 03:04:05",
    "2001-12-14t21:59:43.10-05:00", "2024-01-02T03:04:05.123456789+01:00",
    "yes", "no", "on", "off", "y", "n", "Y", "True", "FALSE", "true", "false",
    "null", "Null", "NULL", "~", "<<", "=", "1:2", "a,b", "a]b", "x\ty", "bad\udcffutf8",
]

YAML_KEYS = ["a", "b", "key", "k_unencrypted", "n", "y", "yes", "on", "\"quoted key\"", "'sq key'",
             "with space", "ключ", "日本", "a.b", "x-y", "\"\"", "\"a\\tb\"", "sopsx",
             "\"12\"", "k_unencrypted_x"]
YAML_BAD_KEYS = ["12", "true", "~", "1.5", "null", "2024-01-02", "0x10", "[a, b]", "{a: 1}"]

YAML_DQ_ESCAPES = ["\\n", "\\t", "\\x41", "\\u00e9", "\\U0001F600", "\\0", "\\a", "\\b", "\\e",
                   "\\f", "\\v", "\\N", "\\_", "\\L", "\\P", "\\ ", "\\\"", "\\\\", "\\/",
                   "\\ud83d\\ude00", "\\r", "\\x85", "\\u2028", "\\x7f", "\\x01", "\\t\\n"]

UNICODE_BREAKS = ["\u0085", "\u2028", "\u2029"]


class Yaml:
    def __init__(self, rng):
        self.rng = rng
        self.keyn = 0
        self.anchors = []
        self.comment_n = 0
        # A wild document may hold constructs the reference refuses; a tame one mostly not.
        self.wild = chance(rng, 0.3)

    def w(self, p):
        """True with probability p in a wild document, p/10 in a tame one."""
        return chance(self.rng, p if self.wild else p / 10)

    def key(self):
        rng = self.rng
        self.keyn += 1
        r = rng.random()
        if self.w(0.06):
            return rng.choice(YAML_BAD_KEYS)
        if r < 0.25:
            return rng.choice(YAML_KEYS)
        if r < 0.27:
            return "k%d%s" % (self.keyn, rng.choice(UNICODE_BREAKS)) if chance(rng, 0.2) \
                else "\"k%d%s\"" % (self.keyn, rng.choice(["\\L", "\\P", "\\N"]))
        return "k%d" % self.keyn

    def comment(self):
        self.comment_n += 1
        r = self.rng.random()
        if r < 0.08:
            return "#"
        if r < 0.14:
            return "#nospace%d" % self.comment_n
        if r < 0.18:
            return "#  ☃ wide %d" % self.comment_n
        return "# c%d" % self.comment_n

    def trail(self):
        return (" " + self.comment()) if chance(self.rng, 0.2) else ""

    def dq(self):
        rng = self.rng
        parts = []
        for _ in range(rng.randint(1, 4)):
            if chance(rng, 0.5):
                e = rng.choice(YAML_DQ_ESCAPES)
                if e in ("\\/", "\\ud83d\\ude00") and not self.w(0.5):
                    e = "\\u00e9"
                parts.append(e)
            else:
                parts.append(rng.choice(["a", "b c", "'", "#", ": ", "é", "\t", "  "]))
        return '"' + "".join(parts) + '"'

    def sq(self):
        rng = self.rng
        body = rng.choice(["a", "it''s", "#h", "- d", "a: b", "  lead", "trail  ", "", "1", "true",
                           "x\ty", "a\u2028b", "a\u0085b"])
        return "'" + body + "'"

    def scalar(self):
        """An inline scalar (no newline), maybe tagged or anchored."""
        rng = self.rng
        r = rng.random()
        if r < 0.45:
            v = rng.choice(YAML_PLAIN)
        elif r < 0.6:
            v = self.dq()
        elif r < 0.7:
            v = self.sq()
        elif r < 0.75:
            v = pick(rng, '""', "''", "", "~")
        elif r < 0.85:
            tag = rng.choice(["!!str", "!!int", "!!float", "!!bool", "!!null", "!!binary", "!custom",
                              "!", "!<tag:yaml.org,2002:int>", "!<tag:yaml.org,2002:str>",
                              "!!timestamp", "!!merge"])
            val = rng.choice(["5", "\"12\"", "3", "true", "abc", "aGVsbG8=", "/w==", "", "~",
                              "2024-01-02", "1.5"])
            if tag.startswith("!!") and tag not in ("!!str", "!!binary") and not self.w(0.5):
                tag = "!!str"
            v = (tag + " " + val).rstrip()
        elif r < 0.87 and self.w(1):
            v = "x" + rng.choice(UNICODE_BREAKS) + "y"
        elif r < 0.87:
            v = rng.choice(YAML_PLAIN)
        elif r < 0.93:
            v = '"x' + rng.choice(UNICODE_BREAKS) + 'y"'
        else:
            v = "'x" + rng.choice(UNICODE_BREAKS) + "y'"
        if chance(rng, 0.06):
            name = "a%d" % len(self.anchors)
            self.anchors.append(name)
            v = ("&%s %s" % (name, v)).rstrip()
        elif self.anchors and chance(rng, 0.06):
            v = "*" + rng.choice(self.anchors)
        return v

    def block_scalar(self, ind):
        """A `|`/`>` header (without the key) and its content lines, indented under `ind`."""
        rng = self.rng
        style = rng.choice("|>")
        chomp = rng.choice(["", "-", "+"])
        indicator = ""
        extra = 0
        if chance(rng, 0.35):
            n = rng.randint(1, 4)
            indicator = str(n)
            extra = max(0, ind + n - (ind + 2))
            body_ind = ind + n if ind + n > 0 else 1
        else:
            body_ind = ind + rng.choice([1, 2, 2, 4])
        header = style + (indicator + chomp if chance(rng, 0.5) else chomp + indicator)
        lines = []
        for _ in range(rng.randint(1, 4)):
            r = rng.random()
            if r < 0.15:
                lines.append("")
            elif r < 0.25:
                lines.append(" " * (body_ind + 2) + "more indented")
            elif r < 0.27 and self.w(1):
                lines.append(" " * body_ind + "\ttab after indent")
            elif r < 0.35:
                lines.append(" " * body_ind + "# not a comment")
            elif r < 0.37 and self.w(1):
                lines.append(" " * body_ind + "x" + rng.choice(UNICODE_BREAKS) + "y")
            elif r < 0.38 and self.w(1):
                lines.append("\t")
            else:
                lines.append(" " * body_ind + rng.choice(["line", "two words", "a: b", "- item", "trail  ", "é"]))
        if lines and lines[0] == "" and chance(rng, 0.5):
            lines[0] = " " * body_ind + "first"
        for _ in range(rng.choice([0, 0, 1, 2])):
            lines.append("")
        if chance(rng, 0.1):
            lines.append(" " * max(0, ind) + self.comment())
        del extra
        return header + self.trail(), lines

    def multiline_flow_scalar(self, ind):
        """A plain, single- or double-quoted scalar over several lines."""
        rng = self.rng
        pad = " " * (ind + 2)
        kind = rng.choice(["plain", "sq", "dq", "dq_cont"])
        if kind == "plain":
            return ["word1", pad + "word2", "", pad + "word3"][: rng.randint(2, 4)]
        if kind == "sq":
            return ["'first", pad + "second", "", pad + "third'"][: 2] + ([] if chance(rng, 0.5) else []) \
                if chance(rng, 0.5) else ["'first", "", pad + "  second'"]
        if kind == "dq":
            return ['"first', pad + "second\\", pad + ' third"']
        return ['"a\\', pad + '\\ b', pad + '"']

    def value_lines(self, ind, depth):
        """(suffix after `key:`, following lines) for a map value."""
        rng = self.rng
        r = rng.random()
        if depth < 3 and r < 0.18:
            lines = []
            for _ in range(rng.randint(1, 3)):
                lines += self.entry(ind + 2, depth + 1)
            return self.trail(), lines
        if depth < 3 and r < 0.32:
            return self.trail(), self.seq(ind + rng.choice([0, 2]), depth + 1)
        if r < 0.47:
            header, lines = self.block_scalar(ind)
            return " " + header, lines
        if r < 0.52:
            first, *rest = self.multiline_flow_scalar(ind)
            return " " + first, rest
        if r < 0.6:
            return " " + self.flow(depth) + self.trail(), []
        if r < 0.63 and self.anchors and self.w(1):
            return " <<: *" + rng.choice(self.anchors), []  # invalid: nested mapping on one line
        return " " + self.scalar() + self.trail(), []

    def flow(self, depth):
        rng = self.rng
        if depth > 3 or chance(rng, 0.3):
            return pick(rng, "[]", "{}", "[1, 2]", "{a: 1}", "[a, [b, c]]", "{x: [1, {y: z}]}",
                        "[1, 2, ]", "{a: 1, a: 2}", "[\"x\", 'y', ~]", "{? a}", "[a: b]")
        if chance(rng, 0.5):
            return "[" + ", ".join(self.scalar() for _ in range(rng.randint(0, 3))) + "]"
        items = ["k%d: %s" % (i, self.scalar()) for i in range(rng.randint(0, 3))]
        return "{" + ", ".join(items) + "}"

    def comments(self, ind):
        out = []
        while chance(self.rng, 0.15):
            out.append(" " * max(0, ind + self.rng.choice([0, 0, 2, -2])) + self.comment())
        return out

    def entry(self, ind, depth):
        """One key and its value, as lines."""
        rng = self.rng
        out = self.comments(ind)
        k = self.key()
        if chance(rng, 0.04) and self.anchors:
            out.append(" " * ind + "<<: " + pick(rng, "*" + rng.choice(self.anchors),
                                                    "[*" + rng.choice(self.anchors) + "]",
                                                    *(["1", "~"] if self.w(1) else [])))
            return out
        if chance(rng, 0.02) and self.anchors:
            k = "*" + rng.choice(self.anchors) + " "
        if chance(rng, 0.03):
            out.append(" " * ind + "? " + k)
            out.append(" " * ind + ": " + self.scalar())
            return out
        anchor = ""
        if depth < 3 and chance(rng, 0.05):
            name = "m%d" % len(self.anchors)
            anchor = " &" + name
            self.anchors.append(name)
            lines = []
            for _ in range(rng.randint(1, 2)):
                lines += self.entry(ind + 2, depth + 1)
            out.append(" " * ind + k + ":" + anchor + self.trail())
            return out + lines
        if chance(rng, 0.03):
            out.append(" " * ind + k + ": " + pick(rng, "!x", "&t%d" % self.keyn, "!!map", "!!str"))
            out += self.comments(ind)
            return out
        suffix, lines = self.value_lines(ind, depth)
        out.append(" " * ind + k + ":" + suffix)
        return out + lines

    def seq(self, ind, depth):
        rng = self.rng
        out = []
        for _ in range(rng.randint(1, 3)):
            out += self.comments(ind)
            r = rng.random()
            if depth < 3 and r < 0.2:
                sub = self.entry(ind + 2, depth + 1)
                for _ in range(rng.randint(0, 1)):
                    sub += self.entry(ind + 2, depth + 1)
                first = sub[0]
                if first.lstrip().startswith("#") or len(first) < ind + 2:
                    out.append(" " * ind + "-" + self.trail())
                    out += sub
                else:
                    out.append(" " * ind + "- " + first[ind + 2:])
                    out += sub[1:]
            elif depth < 3 and r < 0.3:
                out.append(" " * ind + "-" + self.trail())
                out += self.seq(ind + 2, depth + 1)
            elif r < 0.4:
                header, lines = self.block_scalar(ind)
                out.append(" " * ind + "- " + header)
                out += lines
            elif r < 0.45:
                out.append(" " * ind + "- " + pick(rng, "#", "# c", "") + "")
                out.append(" " * (ind + 2) + self.scalar())
            elif r < 0.5:
                out.append(" " * ind + "-")
            else:
                out.append(" " * ind + "- " + self.scalar() + self.trail())
        return out


def gen_yaml(rng):
    y = Yaml(rng)
    items = []
    if y.w(0.1):
        items.append(pick(rng, "%YAML 1.2\n---\n", "%YAML 1.1\n---\n", "%TAG !e! tag:example.com,2000:\n---\n"))
    elif chance(rng, 0.1):
        items.append("---\n")
    for c in y.comments(0):
        items.append(c + "\n")
    for _ in range(rng.randint(1, 6)):
        items.append("\n".join(y.entry(0, 0)) + "\n")
        if chance(rng, 0.06):
            items.append(pick(rng, "---\n", "...\n---\n", "--- # doc\n"))
            y.anchors = [] if not y.w(0.5) else y.anchors
        if chance(rng, 0.05):
            items.append("\n")
    if chance(rng, 0.12):
        items.append(y.comment() + "\n")
    elif chance(rng, 0.1):
        # A block scalar last in the file, often without the final newline (see the flags).
        header, lines = y.block_scalar(0)
        items.append("\n".join(["%s: %s" % (y.key(), header)] + lines) + "\n")
    if y.w(0.1):
        items.append(pick(rng, "...\n", "---\n", "\ufeffz: 1\n", "sops: 1\n"))
    flags = set()
    if chance(rng, 0.12):
        flags.add("no_final_newline")
    if chance(rng, 0.06):
        flags.add("crlf")
    if chance(rng, 0.04):
        flags.add("bom")
    return Doc("yaml", items, flags)


# ---------------------------------------------------------------- JSON

JSON_NUMBERS = ["0", "-0", "1", "-1", "42", "1.0", "1.5", "-0.0", "1e3", "1E+2", "1e-7", "2.5e-3",
                "12345678901234567890", "-12345678901234567890", "9007199254740993",
                "9223372036854775807", "-9223372036854775808", "18446744073709551616",
                "1e21", "1e400", "5e-324", "0.1", "100000000000000000000",
                "123456789.123456789", "3.0e20", "1e6", "0.000001", "-1.5e-10"]
JSON_BAD = ["01", "1.", ".5", "+1", "NaN", "Infinity", "0x10", "1e", "-", "True", "nul", "'sq'",
            '"tab\there"', '"a\nb"', '"\\x41"', '"\\U0001F600"', "[1,]", "{,}"]
JSON_STRINGS = ['"x"', '""', '"héllo ☃"', '"😀"', '"a\\"b\\\\c"', '"\\n\\t\\r\\b\\f"', '"\\/"',
                '"\\u0000"', '"\\u0001"', '"\\u001f"', '"\\ud83d\\ude00"', '"\\ud800"', '"\\udc00x"',
                '"\\u2028\\u2029"', '"<a>&b"', '"\\u003c"', '"\u2028raw"', '"\x7f"', '"tab\there"',
                '"ENC[x]"', '"true"', '"1"', '"bad\udcffutf8"', '"\\u00e9\u00e9"']
JSON_LITERALS = ["true", "false", "null"]
JSON_KEYS = ['"a"', '"b"', '"a"', '""', '"k_unencrypted"', '"<k>&"', '"ключ"', '"\\u00e9"',
             '"\\ud83d\\ude00"', '"a\\nb"', '"sops"', '"x"', '"x"', '"with space"', '"k\\u0000"']


class Json:
    def __init__(self, rng):
        self.rng = rng
        self.n = 0

    def key(self):
        self.n += 1
        if chance(self.rng, 0.3):
            return self.rng.choice(JSON_KEYS)
        return '"k%d"' % self.n

    def value(self, depth):
        rng = self.rng
        r = rng.random()
        if r < 0.01:
            return rng.choice(JSON_BAD)
        if r < 0.3:
            return rng.choice(JSON_NUMBERS)
        if r < 0.55:
            return rng.choice(JSON_STRINGS)
        if r < 0.62:
            return rng.choice(JSON_LITERALS)
        if r < 0.66:
            d = rng.randint(5, 40)
            return "[" * d + rng.choice(["1", '"x"', ""]) + "]" * d
        if depth >= 4:
            return rng.choice(["[]", "{}"])
        if r < 0.82:
            return "[" + ", ".join(self.value(depth + 1) for _ in range(rng.randint(0, 3))) + "]"
        return "{" + ", ".join(self.member(depth + 1) for _ in range(rng.randint(0, 3))) + "}"

    def member(self, depth):
        sep = self.rng.choice([": ", ":", " : ", ":\n\t"])
        return self.key() + sep + self.value(depth)


def gen_json(rng):
    j = Json(rng)
    flags = set()
    r = rng.random()
    if r < 0.05:
        flags.add("toplevel")
        return Doc("json", [rng.choice(["[1, 2]", '"str"', "1", "null", "true", "[]", "",
                                        '{"a": 1} {"b": 2}', '{"a": 1}]', "{} x"])], flags)
    items = [j.member(0) for _ in range(rng.randint(0, 6))]
    flags.add(rng.choice(["compact", "pretty", "tabs", "oneline"]))
    if chance(rng, 0.04):
        flags.add("trailing_comma")
    if chance(rng, 0.1):
        flags.add("no_final_newline")
    if chance(rng, 0.04):
        flags.add("crlf")
    if chance(rng, 0.03):
        flags.add("bom")
    return Doc("json", items, flags)


def render_json(items, flags):
    if "toplevel" in flags:
        return "".join(items) + "\n"
    if "compact" in flags:
        body = "{" + ",".join(items)
        end = "}"
    elif "oneline" in flags:
        body = "{ " + ", ".join(items)
        end = " }"
    else:
        pad = "\t" if "tabs" in flags else "  "
        body = "{\n" + ",\n".join(pad + i for i in items)
        end = "\n}" if items else "}"
    if "trailing_comma" in flags and items:
        body += ","
    return body + end + "\n"


# ---------------------------------------------------------------- dotenv

def gen_dotenv(rng):
    items = []
    n = 0
    for _ in range(rng.randint(0, 8)):
        n += 1
        r = rng.random()
        key = rng.choice(["A%d" % n, "A%d" % n, "export B%d" % n, " K%d" % n, "K%d_unencrypted" % n,
                          "lower%d" % n, "A", "", "K %d" % n, "ключ%d" % n, "K%d\t" % n])
        if chance(rng, 0.01):
            key = "sops_x%d" % n
        if r < 0.1:
            items.append(rng.choice(["# comment %d\n" % n, "#\n", "#c\n", "\n", "# x=1\n"]))
            continue
        if r < 0.12:
            items.append(rng.choice(["  # indented\n", "noequals\n", "\t\n", "   \n"]))
            continue
        val = rng.choice([
            "plain", "", "\"b c\"", "'single q'", "x=y=z", "\"esc\\nnl\"", "a\\nb", "back\\\\slash",
            "trailing   ", "  leading", "val # not comment", "héllo ☃", "1", "true", "\"\"",
            "\"multi", "a\\tb", "\\n", "x\\", "ENC[nope]", "a\u2028b", "a\u0085b", "a\rb", "${VAR}",
            "'it''s'", "\\\\n", "a\\\\nb", "=lead", "bad\udcffutf8"])
        items.append(key + "=" + val + "\n")
    flags = set()
    if chance(rng, 0.15):
        flags.add("no_final_newline")
    if chance(rng, 0.08):
        flags.add("crlf")
    if chance(rng, 0.03):
        flags.add("bom")
    return Doc("dotenv", items, flags)


# ---------------------------------------------------------------- INI

def gen_ini(rng):
    items = []
    n = 0
    for _ in range(rng.randint(0, 10)):
        n += 1
        r = rng.random()
        if r < 0.2:
            items.append(rng.choice(["[sec%d]\n" % n, "[DEFAULT]\n", "[sec one]\n", "[ spaced ]\n",
                                     "[s]\n", "[s]\n", "[a.b]\n", "[x] ; c\n", "[Sec]\n"]
                                    + (["[]\n", "[unclosed\n", "[sops]\n"] if chance(rng, 0.1) else [])))
        elif r < 0.32:
            items.append(rng.choice(["; comment %d\n" % n, "# hash %d\n" % n, ";\n", "#\n",
                                     "  ; indented\n", "\n", ";;double\n", "   \n"]))
        else:
            key = rng.choice(["k%d" % n, "k%d" % n, "K%d" % n, "key with space", "k", "k",
                              "k%d_unencrypted" % n, "ключ", "  indented%d" % n, "a.b", "k[0]", "K"])
            sep = rng.choice(["=", "=", " = ", ": ", ":", "   =   ", "\t=\t"])
            val = rng.choice(["v", "", "\"quoted value\"", "'single'", "v ; inline", "v # hash",
                              "v;nospace", "x=y", "héllo ☃", "1", "true", "  spaced  ", "\"\"",
                              "a\\nb", "%(k)s", "\"unterminated", "v\\", "`bt`", "a\u2028b",
                              "\"q\" ; c", "bad\udcffutf8"])
            line = key + sep + val
            if chance(rng, 0.015):
                line = key
            items.append(line + "\n")
            if chance(rng, 0.015):
                items.append("  continuation\n")
    flags = set()
    if chance(rng, 0.12):
        flags.add("no_final_newline")
    if chance(rng, 0.06):
        flags.add("crlf")
    if chance(rng, 0.03):
        flags.add("bom")
    return Doc("ini", items, flags)


# ---------------------------------------------------------------- binary

def gen_binary(rng):
    r = rng.random()
    if r < 0.1:
        return Doc("binary", [])
    if r < 0.5:
        return Doc("binary", ["".join(chr(rng.randint(0, 255)) for _ in range(rng.randint(1, 40)))])
    text = rng.choice(["hello\nworld", "{\"data\": \"x\"}", "a: 1\n", "\r\n\r\n", "é☃\n",
                       "{\n\t\"data\": \"ENC[x]\"\n}\n", "x=1\n"])
    return Doc("binary", [text])


GENERATORS = {"yaml": gen_yaml, "json": gen_json, "dotenv": gen_dotenv, "ini": gen_ini,
              "binary": gen_binary}


def generate(fmt, seed, index):
    """The document number `index` of format `fmt` for `seed` (independent of other documents)."""
    rng = random.Random("%s/%s/%d" % (seed, fmt, index))
    return GENERATORS[fmt](rng)


if __name__ == "__main__":
    import sys
    fmt = sys.argv[1] if len(sys.argv) > 1 else "yaml"
    seed = sys.argv[2] if len(sys.argv) > 2 else "0"
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    for i in range(count):
        d = generate(fmt, seed, i)
        sys.stdout.buffer.write(b"=== %d %s\n" % (i, json.dumps(sorted(d.flags)).encode()))
        sys.stdout.buffer.write(d.render() + b"\n")

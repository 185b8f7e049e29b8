"""Reader for llhttp's markdown test cases (../shared/testdata/http/llhttp).

Each case is a heading, a `<!-- meta={...} -->` line, an ```http block with
the raw message and a ```log block with what llhttp reported. The encoding of
the raw message is described in testdata/README.md: the block's final newline
is dropped, a line ending in a backslash joins the next, the remaining
newlines become CRLF, and C-style escapes stand for bytes.
"""

import json
import os
import re

_ESCAPES = {"r": b"\r", "n": b"\n", "t": b"\t", "f": b"\f", "\\": b"\\",
            '"': b'"', "'": b"'", "a": b"\a", "b": b"\b", "v": b"\v"}


def unescape(text):
    """Turn the escapes of the http block into bytes."""
    out = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "\\" or i + 1 == len(text):
            out += ch.encode("utf-8")
            i += 1
            continue
        nxt = text[i + 1]
        m = re.match(r"x([0-9A-Fa-f]{2})", text[i + 1:])
        if m:
            out.append(int(m.group(1), 16))
            i += 1 + len(m.group(0))
            continue
        m = re.match(r"[0-7]{1,3}", text[i + 1:])
        if m:
            out.append(int(m.group(0), 8) & 0xFF)
            i += 1 + len(m.group(0))
            continue
        if nxt in _ESCAPES:
            out += _ESCAPES[nxt]
        else:
            # An unknown escape keeps its backslash, as it was written.
            out += ("\\" + nxt).encode("utf-8")
        i += 2
    return bytes(out)


def decode_block(lines):
    """The raw message of an http block (lines without their newlines)."""
    joined = []
    cur = ""
    for line in lines:
        if line.endswith("\\") and not line.endswith("\\\\"):
            cur += line[:-1]
            continue
        joined.append(cur + line)
        cur = ""
    if cur:
        joined.append(cur)
    # The lines are joined with CRLF; the final newline of the block is
    # not part of the message (so no CRLF after the last line).
    return unescape("\r\n".join(joined))


class Case:
    def __init__(self, path, title, meta, raw, log):
        self.file = os.path.basename(path)
        self.title = title
        self.meta = meta
        self.raw = raw
        self.log = log

    @property
    def error(self):
        """The last log line when it is an error, else None."""
        if self.log and re.search(r"\berror code=", self.log[-1]):
            return self.log[-1]
        return None

    @property
    def error_after_complete(self):
        """llhttp finished a whole message before it saw the error: the
        error is about bytes after a complete, valid request."""
        return any("message complete" in line for line in self.log[:-1])

    def __repr__(self):
        return "%s: %s" % (self.file, self.title)


def parse_file(path):
    cases = []
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    title = None
    meta = None
    raw = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            title = line.lstrip("#").strip()
            meta = raw = None
        elif line.startswith("<!-- meta="):
            m = re.match(r"<!-- meta=(.*?) -->", line)
            meta = json.loads(m.group(1)) if m else None
            raw = None
        elif line.startswith("```") and line[3:].strip() in ("http", "log"):
            kind = line[3:].strip()
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            body = lines[i + 1:j]
            if kind == "http":
                raw = decode_block(body)
            elif meta is not None and raw is not None:
                cases.append(Case(path, title, meta, raw,
                                  [b for b in body if b.strip()]))
                meta = raw = None
            i = j
        i += 1
    return cases


def request_error_cases(directory):
    """Every case of meta type exactly "request" whose log ends in an error,
    by file name."""
    out = {}
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".md"):
            continue
        for c in parse_file(os.path.join(directory, name)):
            if c.meta.get("type") == "request" and c.error:
                out.setdefault(name[:-3], []).append(c)
    return out

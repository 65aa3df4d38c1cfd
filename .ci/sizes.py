#!/usr/bin/python3
"""Fails when a product file is over 900 lines or a function over 150 (issue 13).

Product files: the C++ under include/, util/, storage/, index/, embed/, query/,
tools/ (tests and benchmarks are not counted). A function is a brace block that
opens after a ')' (with qualifiers) directly inside a namespace, class or
struct, or at file level; lambdas and local classes count as part of the
function around them. Comments, strings and character literals are skipped.
Prints each finding as file:line; exit 1 if any.
"""
import re
import subprocess
import sys

MAX_FILE = 900
MAX_FUNCTION = 150
FOLDERS = ("include/", "util/", "storage/", "index/", "embed/", "query/", "tools/")


def strip(text):
    """Text with comments, strings and char literals blanked (newlines kept)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith('R"', i):
            m = re.match(r'R"([^(]*)\(', text[i:])
            end = text.find(")" + m.group(1) + '"', i) if m else -1
            j = n if end < 0 else end + len(m.group(1)) + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + re.sub(r"[^\n]", " ", text[i + 1 : j]) + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def functions(text):
    """(first line, line count) of each function body in `text`."""
    code = strip(text)
    stack = []  # each open brace: "container", "function" or "inner"
    found = []
    line = 1
    start_line = 0
    last = 0  # where the text before the next brace starts
    for i, c in enumerate(code):
        if c == "\n":
            line += 1
        elif c == "{":
            head = code[last:i]
            last = i + 1
            inside_function = any(k != "container" for k in stack)
            if inside_function:
                stack.append("inner")
                continue
            words = head.strip()
            if re.search(r"\b(namespace|class|struct|union|enum)\b[^()]*$", words) or words.endswith("extern \"C\""):
                stack.append("container")
            elif re.search(r"\)\s*(const|override|final|noexcept|mutable|->[^;{}]*|\s|[A-Z_]+\([^()]*\))*$", words) and not re.search(r"=\s*[^=]*$", words.split(")")[-1]):
                stack.append("function")
                start_line = line
            else:
                stack.append("inner")  # an initialiser list, array or other block
        elif c == "}":
            last = i + 1
            if stack:
                kind = stack.pop()
                if kind == "function":
                    found.append((start_line, line - start_line + 1))
        elif c == ";":
            last = i + 1
    return found


def main():
    files = subprocess.run(["git", "ls-files", "*.cc", "*.h"], capture_output=True, text=True,
                           check=True).stdout.split()
    bad = 0
    for path in files:
        if not path.startswith(FOLDERS):
            continue
        text = open(path, encoding="utf-8", errors="replace").read()
        lines = text.count("\n")
        if lines > MAX_FILE:
            print(f"{path}:1: {lines} lines (at most {MAX_FILE})")
            bad += 1
        for start, length in functions(text):
            if length > MAX_FUNCTION:
                print(f"{path}:{start}: a function of {length} lines (at most {MAX_FUNCTION})")
                bad += 1
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()

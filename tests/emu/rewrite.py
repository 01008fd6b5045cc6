#!/usr/bin/env python3
"""Turns a .cu file into C++ for the emulated GPU (make CUDA=emu), keeping every line where it was:

  K<<<grid, block[, smem]>>>(args)  ->  ::emu::launch(site, &K, ::emu::config(grid, block[, smem]),
                                                       [](auto... a_) { K(a_...); }, args)
  __shared__ T name[dims];          ->  T (&name)[dims] = ::emu::shared<T[dims]>("file:line");
  extern __shared__ T name[];       ->  T* const name = reinterpret_cast<T*>(::emu::dynamic_shared());
  __launch_bounds__(n) K(...) {     ->  ... K(...) { ::emu::launch_bounds(n);

A template kernel launched without explicit template arguments is called through the generic lambda,
which deduces them; it has no address, so it cannot take more than 48 KB of dynamic shared memory.
The output starts with a #line directive, so compiler and AddressSanitizer reports name the .cu file.
Usage: rewrite.py IN.cu OUT.cpp
"""
import re
import sys

LAUNCH = re.compile(r"((?:::)?[A-Za-z_][\w:]*)(\s*<[^;]*?>)?\s*<<<(.*?)>>>\s*\(")
SHARED = re.compile(r"__shared__\s+(?:__align__\s*\(\s*\d+\s*\)\s+)?([A-Za-z_][\w:\s]*?)\s+(\w+)\s*((?:\[[^\]]*\])*)\s*;")
EXTERN_SHARED = re.compile(r"extern\s+__shared__\s+(?:__align__\s*\(\s*\d+\s*\)\s+)?([A-Za-z_][\w:\s]*?)\s+(\w+)\s*\[\s*\]\s*;")
TEMPLATE_KERNEL = re.compile(
    r"template\s*<[^{};]*?>\s*__global__\s+void\s+(?:__launch_bounds__\s*\((?:[^()]|\([^()]*\))*\)\s*)?(\w+)")


def balanced(text, i):
    """Index just past the parenthesis group that opens at text[i] == '('."""
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "(":
            depth += 1
        elif text[j] == ")":
            depth -= 1
            if depth == 0:
                return j + 1
    raise SystemExit("rewrite.py: unbalanced parentheses")


def insert_bounds_checks(text):
    out, pos = [], 0
    for m in re.finditer(r"__launch_bounds__\s*\(", text):
        if m.start() < pos:
            continue
        open_paren = m.end() - 1
        close = balanced(text, open_paren)
        expr = " ".join(text[open_paren + 1:close - 1].split())
        params = text.index("(", close)  # the kernel's parameter list
        body = text.index("{", balanced(text, params))
        out.append(text[pos:body + 1])
        out.append(" ::emu::launch_bounds(%s);" % expr)
        pos = body + 1
    out.append(text[pos:])
    return "".join(out)


def split_top(s):
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    parts.append(cur.strip())
    return parts


def rewrite_line(line, lineno, path, deduced):
    def launch(m):
        name, targs, cfg = m.group(1), m.group(2) or "", m.group(3)
        kernel = name + targs.strip()
        base = name.split("::")[-1]
        addr = "nullptr" if (base in deduced and not targs) else "reinterpret_cast<const void*>(&%s)" % kernel
        site = '::emu::Site{__FILE__, __LINE__, "%s"}' % " ".join(kernel.split())
        return "::emu::launch(%s, %s, ::emu::config(%s), [](auto... a_) { %s(a_...); }, " % (
            site, addr, ", ".join(split_top(cfg)), kernel)

    line = LAUNCH.sub(launch, line)
    line = re.sub(r"\[\]\(auto\.\.\. a_\) \{ (.*?)\(a_\.\.\.\); \}, \s*\)", r"[](auto... a_) { \1(a_...); })", line)
    line = EXTERN_SHARED.sub(lambda m: "%s* const %s = reinterpret_cast<%s*>(::emu::dynamic_shared());" % (
        m.group(1), m.group(2), m.group(1)), line)
    line = SHARED.sub(lambda m: '%s (&%s)%s = ::emu::shared<%s%s>("%s:%d");' % (
        m.group(1), m.group(2), m.group(3), m.group(1), m.group(3), path, lineno) if m.group(3) else
        '%s& %s = ::emu::shared<%s>("%s:%d");' % (m.group(1), m.group(2), m.group(1), path, lineno), line)
    if "__shared__" in line or "<<<" in line:
        raise SystemExit("%s:%d: rewrite.py cannot rewrite this line: %s" % (path, lineno, line.strip()))
    return line


def main():
    if len(sys.argv) != 3:
        raise SystemExit("usage: rewrite.py IN.cu OUT.cpp")
    path, out = sys.argv[1], sys.argv[2]
    text = open(path).read()
    deduced = set(TEMPLATE_KERNEL.findall(text))
    text = insert_bounds_checks(text)
    lines = text.split("\n")
    body = "\n".join(rewrite_line(l, i + 1, path, deduced) for i, l in enumerate(lines))
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        f.write('#line 1 "%s"\n' % path + body)
    import os
    os.replace(tmp, out)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Checks that every repository path the reader's pages name exists.

    python3 scripts/check_doc_paths.py [REPO_ROOT]      (CTest: doc_paths)

Pages: README.md, docs/*.md (not docs/studies/, which record past runs) and kernels/README.md.
A path is written in backticks (`engine/modules.h`, `kernels/conv2d_gemm.cu:120`) or is a markdown
link's target ([the spec](docs/SPEC.md#5-losses)). Fenced code blocks are commands, not checked.

What counts as a path, after removing a trailing `:line` (or `:line-line`) and a link's `#anchor`:
  - nothing with a space (a command line), `://` (a URL), `*` or `<` (a glob or a placeholder),
    or any character other than letters, digits and `_ . - / +`;
  - no build outputs: nothing under build/, build-*/, runs/ or third_party/ (which
    bench/prepare_gpu_carry.sh makes), no data files (.h5, .csv, .png, .safetensors, .npy, .bin,
    .log);
  - a source file (.h .hpp .cuh .cu .cpp .c .py .sh .cmake) is always checked, with or without a
    folder (`simt.h` in kernels/README.md is kernels/simt.h);
  - another name with a `/` is checked when its first folder exists (root or the page's folder):
    `cpu/`, `core/error.h`, `docs/SPEC.md`, `studies/paper-L128.json`; one whose first folder
    does not exist names what a program writes into its output folder (`infer/metrics.json`), and
    `float32/float64` is not a path;
  - a bare name without a source extension (`report.md`, `checkpoint.json`) is a file a program
    writes, and is not checked;
  - a link's target is always checked (besides URLs, `mailto:` and `#anchor` alone).
A path is found when it exists relative to the repository root or to the page's own folder.
Exit status 0 when every path exists; 1 with one line per missing path (page:line: `path`).
"""
import os
import re
import sys

SOURCE_EXTENSIONS = {".h", ".hpp", ".cuh", ".cu", ".cpp", ".c", ".py", ".sh", ".cmake", ".md", ".txt", ".json"}
BARE_EXTENSIONS = {".h", ".hpp", ".cuh", ".cu", ".cpp", ".c", ".py", ".sh", ".cmake"}
DATA_EXTENSIONS = {".h5", ".csv", ".png", ".safetensors", ".npy", ".bin", ".log"}
OUTPUT_PREFIXES = ("build/", "runs/", "third_party/")

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
CODE_SPAN = re.compile(r"`([^`]+)`")
LINK = re.compile(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
PATH_CHARS = re.compile(r"^[A-Za-z0-9_./+-]+$")
LINE_SUFFIX = re.compile(r":\d+(-\d+)?$")


def pages(root):
    out = ["README.md", "kernels/README.md"]
    docs = os.path.join(root, "docs")
    if os.path.isdir(docs):
        out += sorted("docs/" + f for f in os.listdir(docs) if f.endswith(".md"))
    return [p for p in out if os.path.isfile(os.path.join(root, p))]


def as_path(text, is_link=False):
    """The repository path `text` names, or None when it is not one this check looks at."""
    text = text.strip()
    if not text or any(c.isspace() for c in text) or "://" in text or "*" in text or "<" in text:
        return None
    text = LINE_SUFFIX.sub("", text)
    if text.startswith("./"):
        text = text[2:]
    if not PATH_CHARS.match(text) or text in (".", "..") or "/" not in text and text.startswith("."):
        return None
    ext = os.path.splitext(text.rstrip("/"))[1].lower()
    if ext in DATA_EXTENSIONS:
        return None
    if "/" not in text:
        return text if ext in BARE_EXTENSIONS or is_link else None
    if text.startswith(OUTPUT_PREFIXES) or re.match(r"^build[-_][^/]*/", text):
        return None
    return text


def exists(root, page, path):
    folder = os.path.dirname(os.path.join(root, page))
    return any(os.path.exists(os.path.normpath(os.path.join(base, path))) for base in (root, folder))


def first_folder_exists(root, page, path):
    first = path.split("/", 1)[0]
    folder = os.path.dirname(os.path.join(root, page))
    return any(os.path.isdir(os.path.join(base, first)) for base in (root, folder)) or first == ".."


def check_page(root, page):
    with open(os.path.join(root, page), encoding="utf-8") as f:
        text = f.read()
    # Blank out fenced blocks, keeping their newlines so that line numbers stay right.
    text = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    missing = []
    candidates = [(m.start(), m.group(1), False) for m in CODE_SPAN.finditer(text)]
    for m in LINK.finditer(text):
        target = m.group(1).split("#", 1)[0]
        if target and "://" not in target and not target.startswith("mailto:"):
            candidates.append((m.start(), target, True))
    for offset, raw, is_link in sorted(candidates):
        path = as_path(raw, is_link)
        if path is None:
            continue
        ext = os.path.splitext(path.rstrip("/"))[1].lower()
        if is_link or "/" not in path or ext in BARE_EXTENSIONS:
            checked = True  # a source file is checked wherever it claims to be
        elif first_folder_exists(root, page, path):
            checked = is_link or path.endswith("/") or ext in SOURCE_EXTENSIONS or "." not in path.rsplit("/", 1)[-1]
        else:
            checked = False  # `infer/metrics.json`: a file a program writes into its output folder
        if checked and not exists(root, page, path):
            missing.append(f"{page}:{text.count(chr(10), 0, offset) + 1}: `{raw.strip()}`")
    return missing


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".."))
    checked = pages(root)
    missing = [line for page in checked for line in check_page(root, page)]
    if missing:
        print(f"check_doc_paths: {len(missing)} path(s) named in the documentation do not exist:")
        for line in missing:
            print("  " + line)
        print("(paths are relative to the repository root or to the page's folder; see scripts/check_doc_paths.py)")
        return 1
    print(f"check_doc_paths: every path named in {', '.join(checked)} exists")
    return 0


if __name__ == "__main__":
    sys.exit(main())

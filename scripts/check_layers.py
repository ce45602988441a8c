#!/usr/bin/env python3
"""The layering test (CTest `layering`): no folder includes a folder above its own.

    core -> kernels, cpu -> engine -> solver -> nets -> apps      (bench/ and tests/ on top)

Reads the `#include "folder/..."` lines of every source file under the layer folders and fails,
listing each offending line, when one names a folder its own may not include:

    core     core
    kernels  core, kernels
    cpu      core, cpu
    engine   core, kernels, cpu, engine
    solver   core, kernels, solver         (kernels/simt*.h for its CUDA kernel)
    nets     core, kernels, cpu, engine, solver, nets
    apps     everything above, and apps
    bench, tests: anything

Usage: scripts/check_layers.py [repository root]   (default: the folder above this script)
"""
import pathlib
import re
import sys

ALLOWED = {
    "core": {"core"},
    "kernels": {"core", "kernels"},
    "cpu": {"core", "cpu"},
    "engine": {"core", "kernels", "cpu", "engine"},
    "solver": {"core", "kernels", "solver"},
    "nets": {"core", "kernels", "cpu", "engine", "solver", "nets"},
    "apps": {"core", "kernels", "cpu", "engine", "solver", "nets", "apps"},
}
LAYERS = set(ALLOWED) | {"bench", "tests"}
SOURCES = {".h", ".hpp", ".cuh", ".c", ".cpp", ".cu", ".inl"}
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"/]+)/[^"]*"')


def main() -> int:
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parent.parent)
    offences, files = [], 0
    for folder, allowed in sorted(ALLOWED.items()):
        for path in sorted((root / folder).rglob("*")):
            if path.suffix not in SOURCES or not path.is_file():
                continue
            files += 1
            for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                match = INCLUDE.match(line)
                if match and match.group(1) in LAYERS and match.group(1) not in allowed:
                    offences.append(f"{path.relative_to(root)}:{number}: {folder}/ includes "
                                    f"{match.group(1)}/ (allowed: {', '.join(sorted(allowed))}): {line.strip()}")
    if files == 0:
        print(f"check_layers: no source files under {root}", file=sys.stderr)
        return 1
    for offence in offences:
        print(offence)
    print(f"check_layers: {files} files, {len(offences)} includes of a folder above their own")
    return 1 if offences else 0


if __name__ == "__main__":
    sys.exit(main())

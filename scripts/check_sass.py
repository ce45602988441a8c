#!/usr/bin/env python3
"""Checks which GPU architectures the built kernel libraries carry code for.

    python3 scripts/check_sass.py --expect "80-real;86-real;89-real;90-real;90-virtual" LIB...
    python3 scripts/check_sass.py --no-cuda        (CTest: kernels_sass_architectures; exit 77, skipped)

--expect is CMAKE_CUDA_ARCHITECTURES: "N-real" asks for SASS (machine code) of sm_N, "N-virtual"
for PTX of compute_N, a plain "N" for both; "native", "all" and "all-major" ask for at least one
SASS image. Every library must hold each of them, or the test fails naming what is missing.

How the images are read: nvcc puts a "fat binary" into each object (ELF section .nv_fatbin): a
header (magic 0xBA55ED50, version 1, header size, size of what follows), then entries, each with
its kind (1 = PTX, 2 = ELF, i.e. SASS), its header size, its padded payload size and its
architecture (smVersion, e.g. 86). This script finds the fat binaries in the raw bytes of the
libraries (static archives of objects) and lists the entries. When cuobjdump is on the PATH or
given with --cuobjdump (full CUDA toolkits have it; the CI machine's nvcc-only toolkit does not),
its `--list-elf` and `--list-ptx` are read too, and both lists must agree.
"""
import argparse
import re
import shutil
import struct
import subprocess
import sys

MAGIC = 0xBA55ED50
KINDS = {1: "ptx", 2: "sass"}


def fatbin_images(data):
    """{("sass" | "ptx", sm)} of every fat binary in the bytes `data`."""
    images = set()
    start = data.find(struct.pack("<I", MAGIC))
    while start >= 0:
        if start + 16 <= len(data):
            _, version, header_size, fat_size = struct.unpack_from("<IHHQ", data, start)
            if version == 1 and header_size == 16:
                entry, end = start + header_size, start + header_size + fat_size
                while entry + 32 <= min(end, len(data)):
                    kind, _, entry_header, padded_size = struct.unpack_from("<HHII", data, entry)
                    sm = struct.unpack_from("<I", data, entry + 28)[0]
                    if kind not in KINDS or entry_header < 32:
                        break
                    images.add((KINDS[kind], sm))
                    entry += entry_header + padded_size
        start = data.find(struct.pack("<I", MAGIC), start + 4)
    return images


def cuobjdump_images(cuobjdump, library):
    """The same set from cuobjdump: lines such as 'ELF file 1: x.sm_86.cubin', 'PTX file 1: x.sm_90.ptx'."""
    images = set()
    for flag, kind in (("--list-elf", "sass"), ("--list-ptx", "ptx")):
        out = subprocess.run([cuobjdump, flag, library], capture_output=True, text=True)
        if out.returncode != 0 and "does not contain" not in out.stderr:
            sys.exit(f"check_sass: {cuobjdump} {flag} {library} failed: {out.stderr.strip()}")
        images |= {(kind, int(sm)) for sm in re.findall(r"\bsm_(\d+)", out.stdout)}
    return images


def expected_images(architectures):
    """The images CMAKE_CUDA_ARCHITECTURES asks for; None for native/all/all-major."""
    wanted = set()
    for item in filter(None, architectures.replace(" ", ";").split(";")):
        if item in ("native", "all", "all-major"):
            return None
        m = re.fullmatch(r"(\d+)[a-z]?(-real|-virtual)?", item)
        if not m:
            sys.exit(f"check_sass: cannot read CUDA architecture '{item}' of --expect '{architectures}'")
        sm, what = int(m.group(1)), m.group(2)
        if what in (None, "-real"):
            wanted.add(("sass", sm))
        if what in (None, "-virtual"):
            wanted.add(("ptx", sm))
    return wanted


def describe(images):
    return ", ".join(f"{'sm' if kind == 'sass' else 'compute'}_{sm} {kind.upper()}" for kind, sm in sorted(images)) or "none"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--expect", default="", help="CMAKE_CUDA_ARCHITECTURES of the build")
    parser.add_argument("--cuobjdump", default=shutil.which("cuobjdump"), help="cross-check with it (default: PATH)")
    parser.add_argument("--no-cuda", action="store_true", help="the build has no CUDA: report skipped")
    parser.add_argument("libraries", nargs="*")
    args = parser.parse_args()
    if args.no_cuda:
        print("check_sass: skipped: this build has no CUDA kernels (no nvcc found, or -DEDNN_CUDA=OFF)")
        return 77
    if not args.libraries:
        sys.exit("check_sass: name the kernel libraries to check")
    wanted = expected_images(args.expect)
    failed = False
    for library in args.libraries:
        with open(library, "rb") as f:
            found = fatbin_images(f.read())
        how = "fat binary headers"
        if args.cuobjdump:
            listed = cuobjdump_images(args.cuobjdump, library)
            if listed != found:
                print(f"check_sass: {library}: cuobjdump lists {describe(listed)}, the fat binary headers "
                      f"{describe(found)}")
                failed = True
            how += " and cuobjdump"
        missing = (wanted - found) if wanted is not None else ({("sass", "any")} if not any(k == "sass" for k, _ in found) else set())
        print(f"check_sass: {library}: {describe(found)} ({how})")
        if missing:
            print(f"check_sass: {library}: MISSING {', '.join(f'{k} of sm_{sm}' for k, sm in sorted(missing, key=str))} "
                  f"(CMAKE_CUDA_ARCHITECTURES {args.expect})")
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

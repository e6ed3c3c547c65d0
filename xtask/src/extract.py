"""Copy files out of nested archives: cargo xtask tools' extractor.

usage: python3 extract.py ARCHIVE DEST CHAIN [DEST CHAIN ...]

CHAIN names a member inside ARCHIVE, then a member inside that member, and so on,
separated by "!" (shell-style wildcards allowed, each must match exactly one member).
Zip and tar archives (compressed or not) are recognised by content. Each DEST is
written atomically and made executable.
"""

import fnmatch
import io
import os
import sys
import tarfile
import zipfile


def member(data, label, pattern):
    buf = io.BytesIO(data)
    if zipfile.is_zipfile(buf):
        with zipfile.ZipFile(buf) as archive:
            names = [n for n in archive.namelist() if not n.endswith("/")]
            found = fnmatch.filter(names, pattern)
            if len(found) == 1:
                return archive.read(found[0])
    else:
        buf.seek(0)
        with tarfile.open(fileobj=buf) as archive:
            names = [m.name for m in archive.getmembers() if m.isfile()]
            found = fnmatch.filter(names, pattern)
            if len(found) == 1:
                return archive.extractfile(found[0]).read()
    sys.exit(f"{label}: expected one member matching {pattern!r}, found {found or 'none'}")


def main(archive, *pairs):
    with open(archive, "rb") as f:
        root = f.read()
    cache = {"": root}
    for dest, chain in zip(pairs[0::2], pairs[1::2]):
        data, prefix = root, ""
        for pattern in chain.split("!"):
            key = f"{prefix}!{pattern}"
            if key not in cache:
                cache[key] = member(data, f"{os.path.basename(archive)}{prefix}", pattern)
            data, prefix = cache[key], key
        tmp = f"{dest}.tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o755)
        os.replace(tmp, dest)


if __name__ == "__main__":
    main(*sys.argv[1:])

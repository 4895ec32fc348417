"""The build backend of the p2psync Python package (PEP 517), in the source tree.

It needs nothing but the standard library, so `pip install bindings/python` works offline
in a fresh virtual environment (no setuptools or wheel to fetch). It writes a wheel with
the pure-Python package, the console script and, when one is found, libp2psync.so:
$P2PSYNC_LIBRARY if set, else the repository's build/lib/libp2psync.so (run `make build`
first). Without a library the wheel is py3-none-any and the package finds the library at
run time ($P2PSYNC_LIBRARY or the system path, e.g. after `make install`).

A wheel carrying the library gets the platform tag the library allows, by the rules
auditwheel applies (PEP 600): manylinux_X_Y_ARCH, where X.Y is the newest GLIBC_X.Y symbol
version the library needs, provided every DT_NEEDED library is on the manylinux allow-list;
and every versioned symbol it needs is a public GLIBC_X.Y one (a GLIBCXX_, CXXABI_ or GCC_
version, or GLIBC_PRIVATE, is refused: auditwheel limits those per policy, and this backend
does not map them); X.Y is never below the architecture's oldest manylinux (2.5 on x86,
2.17 elsewhere). Otherwise linux_ARCH (installable here, not uploadable), with a warning
naming the reason.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import struct
import sys
import tarfile
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent  # bindings/python
PACKAGE = "p2psync"

# Libraries every manylinux system provides (PEP 600's glibc-based C runtime; the
# auditwheel policies list these for every manylinux_2_x), plus each architecture's
# dynamic loader, which is part of glibc.
MANYLINUX_ALLOWED = {
    "libc.so.6", "libm.so.6", "libdl.so.2", "librt.so.1", "libpthread.so.0", "libutil.so.1",
    "libnsl.so.1", "libresolv.so.2", "libcrypt.so.1", "libgcc_s.so.1", "libstdc++.so.6",
    "libatomic.so.1", "libz.so.1", "libexpat.so.1",
    "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1", "ld-linux.so.2", "ld-linux-armhf.so.3",
    "ld64.so.2", "ld64.so.1",
}
ELF_MACHINES = {3: "i686", 62: "x86_64", 183: "aarch64", 40: "armv7l", 21: "ppc64le", 22: "s390x"}
# The oldest glibc of any manylinux policy per architecture: manylinux1 (2.5) exists for
# x86 only; the others start with manylinux2014 (2.17).
MANYLINUX_FLOOR = {"i686": (2, 5), "x86_64": (2, 5)}
DEFAULT_FLOOR = (2, 17)


# ------------------------------------------------------------------ ELF reading

class ElfInfo:
    """What a wheel tag depends on: architecture, DT_NEEDED names, GLIBC versions needed, and
    the other symbol versions needed ("libstdc++.so.6: GLIBCXX_3.4.30", "libc.so.6: GLIBC_PRIVATE")."""

    def __init__(self, arch: str, needed: list, glibc: list, other_versions: list = ()):
        self.arch, self.needed, self.glibc = arch, needed, glibc
        self.other_versions = list(other_versions)

    def max_glibc(self):
        return max(self.glibc) if self.glibc else None


def read_elf(path: Path) -> ElfInfo:
    """Reads a little-endian ELF64 shared object (the only kind the Go toolchain builds here)."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError(f"{path}: not a little-endian 64-bit ELF file")
    machine, = struct.unpack_from("<H", data, 18)
    shoff, = struct.unpack_from("<Q", data, 40)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 58)
    sections = []
    for i in range(shnum):
        name, stype, _flags, _addr, off, size, link, _info, _align, entsize = struct.unpack_from(
            "<IIQQQQIIQQ", data, shoff + i * shentsize)
        sections.append((name, stype, off, size, link, entsize))

    def cstr(off: int) -> str:
        return data[off:data.index(b"\0", off)].decode()

    needed, glibc, other = [], set(), set()
    for _name, stype, off, size, link, entsize in sections:
        strtab = sections[link][2]
        if stype == 6:  # SHT_DYNAMIC
            for j in range(0, size, entsize or 16):
                tag, val = struct.unpack_from("<qQ", data, off + j)
                if tag == 0:
                    break
                if tag == 1:  # DT_NEEDED
                    needed.append(cstr(strtab + val))
        elif stype == 0x6ffffffe:  # SHT_GNU_verneed
            pos = off
            while True:
                _ver, cnt, vfile, aux, nxt = struct.unpack_from("<HHIII", data, pos)
                apos = pos + aux
                for _ in range(cnt):
                    _hash, _flags, _other, vname, anext = struct.unpack_from("<IHHII", data, apos)
                    version = cstr(strtab + vname)
                    m = re.fullmatch(r"GLIBC_(\d+)\.(\d+)(?:\.\d+)?", version)
                    if m:
                        glibc.add((int(m.group(1)), int(m.group(2))))
                    else:
                        other.add(f"{cstr(strtab + vfile)}: {version}")
                    if not anext:
                        break
                    apos += anext
                if not nxt:
                    break
                pos += nxt
    arch = ELF_MACHINES.get(machine)
    if arch is None:
        raise ValueError(f"{path}: unknown ELF machine {machine}")
    return ElfInfo(arch, needed, sorted(glibc), sorted(other))


def platform_tag(lib: Path):
    """(tag, reason): manylinux_X_Y_ARCH when the library qualifies, else linux_ARCH and why not."""
    info = read_elf(lib)
    outside = [n for n in info.needed if n not in MANYLINUX_ALLOWED]
    if outside:
        return f"linux_{info.arch}", f"needs {', '.join(outside)}, not on the manylinux allow-list"
    if info.other_versions:
        return f"linux_{info.arch}", (f"needs symbol versions {', '.join(info.other_versions)}, "
                                      f"which no manylinux policy known here allows")
    floor = MANYLINUX_FLOOR.get(info.arch, DEFAULT_FLOOR)
    newest = max(info.max_glibc() or floor, floor)
    return f"manylinux_{newest[0]}_{newest[1]}_{info.arch}", None


# ------------------------------------------------------------------ metadata

def _project() -> dict:
    text = (HERE / "pyproject.toml").read_text()
    try:
        import tomllib  # Python 3.11+
        return tomllib.loads(text)["project"]
    except ImportError:  # Python 3.8-3.10: the few plain keys this file uses
        project, section = {"scripts": {}}, None
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith("["):
                section = line.strip("[]")
                continue
            m = re.fullmatch(r'([\w.-]+)\s*=\s*"(.*)"', line)
            if m and section == "project":
                project[m.group(1)] = m.group(2)
            elif m and section == "project.scripts":
                project["scripts"][m.group(1)] = m.group(2)
        return project


def _dist_name(project: dict) -> str:
    return re.sub(r"[-_.]+", "_", project["name"]).lower()


def _metadata(project: dict) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {project['name']}", f"Version: {project['version']}",
             f"Summary: {project.get('description', '')}"]
    if project.get("requires-python"):
        lines.append(f"Requires-Python: {project['requires-python']}")
    lic = project.get("license")
    if isinstance(lic, dict) and lic.get("text"):
        lines.append(f"License: {lic['text']}")
    readme = HERE / "README.md"
    body = ""
    if readme.is_file():
        lines.append("Description-Content-Type: text/markdown")
        body = "\n" + readme.read_text()
    return "\n".join(lines) + "\n" + body


def library_to_bundle():
    explicit = os.environ.get("P2PSYNC_LIBRARY")
    if explicit:
        lib = Path(explicit).resolve()
        if not lib.is_file():
            raise SystemExit(f"p2psync: P2PSYNC_LIBRARY={explicit} is not a file")
        return lib
    repo = HERE.parent.parent  # only inside the repository (not an unpacked sdist)
    built = repo / "build" / "lib" / "libp2psync.so"
    if (repo / "include" / "p2psync.h").is_file() and built.exists():
        return built.resolve()
    return None


# ------------------------------------------------------------------ PEP 517 hooks

def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    project = _project()
    name, version = _dist_name(project), project["version"]
    files = []  # (archive name, bytes, executable)
    for src in sorted((HERE / PACKAGE).iterdir()):
        if src.is_file() and (src.suffix == ".py" or src.name == "py.typed"):
            files.append((f"{PACKAGE}/{src.name}", src.read_bytes(), False))
    files.append(("_p2psync_cli.py", (HERE / "_p2psync_cli.py").read_bytes(), False))

    lib = library_to_bundle()
    if lib is None:
        tag = "py3-none-any"
        sys.stderr.write("p2psync: no libp2psync.so to bundle (run `make build` first, or set "
                         "P2PSYNC_LIBRARY); the package will look for it on the system path\n")
    else:
        plat, reason = platform_tag(lib)
        if reason:
            sys.stderr.write(f"p2psync: wheel tagged {plat}, not manylinux: the library {reason}\n")
        tag = f"py3-none-{plat}"  # ctypes only: any Python 3, one platform
        files.append((f"{PACKAGE}/libp2psync.so", lib.read_bytes(), True))

    info = f"{name}-{version}.dist-info"
    wheel_meta = ("Wheel-Version: 1.0\nGenerator: p2psync_build\n"
                  f"Root-Is-Purelib: {'true' if lib is None else 'false'}\nTag: {tag}\n")
    scripts = project.get("scripts", {})
    entry_points = "[console_scripts]\n" + "".join(f"{k} = {v}\n" for k, v in scripts.items())
    files += [(f"{info}/METADATA", _metadata(project).encode(), False),
              (f"{info}/WHEEL", wheel_meta.encode(), False),
              (f"{info}/entry_points.txt", entry_points.encode(), False),
              (f"{info}/top_level.txt", b"p2psync\n_p2psync_cli\n", False)]

    filename = f"{name}-{version}-{tag}.whl"
    record = [_record_line(n, d) for n, d, _ in files] + [f"{info}/RECORD,,"]
    files.append((f"{info}/RECORD", ("\n".join(record) + "\n").encode(), False))
    # Reproducible: fixed timestamps (SOURCE_DATE_EPOCH when set) and file order.
    stamp = time.gmtime(max(int(os.environ.get("SOURCE_DATE_EPOCH", "315532800")), 315532800))[:6]
    with zipfile.ZipFile(Path(wheel_directory) / filename, "w", zipfile.ZIP_DEFLATED) as zf:
        for n, d, exe in files:
            zi = zipfile.ZipInfo(n, stamp)
            zi.external_attr = (0o755 if exe else 0o644) << 16
            zi.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(zi, d)
    return filename


def build_sdist(sdist_directory, config_settings=None):
    project = _project()
    base = f"{_dist_name(project)}-{project['version']}"
    filename = f"{base}.tar.gz"
    with tarfile.open(Path(sdist_directory) / filename, "w:gz") as tf:
        for rel in ["pyproject.toml", "README.md", "_p2psync_cli.py", "_build/p2psync_build.py"]:
            tf.add(HERE / rel, f"{base}/{rel}")
        for src in sorted((HERE / PACKAGE).iterdir()):
            if src.is_file() and (src.suffix == ".py" or src.name == "py.typed"):
                tf.add(src, f"{base}/{PACKAGE}/{src.name}")
        pkg_info = _metadata(project).encode()
        ti = tarfile.TarInfo(f"{base}/PKG-INFO")
        ti.size = len(pkg_info)
        tf.addfile(ti, io.BytesIO(pkg_info))
    return filename

"""Bundles libp2psync.so into the package when it is built (pip install / pip wheel).

The metadata lives in pyproject.toml; this file only adds the library. Which library:
$P2PSYNC_LIBRARY if set, else the repository's build/lib/libp2psync.so (run `make build`
first), else none — the package then finds the library at run time through
$P2PSYNC_LIBRARY or the system path (e.g. after `make install`).
"""

import os
import shutil
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = Path(__file__).resolve().parent


def library_to_bundle():
    explicit = os.environ.get("P2PSYNC_LIBRARY")
    if explicit:
        return Path(explicit).resolve()
    built = HERE.parent.parent / "build" / "lib" / "libp2psync.so"
    return built.resolve() if built.exists() else None


class BuildWithLibrary(build_py):
    def run(self):
        super().run()
        lib = library_to_bundle()
        if lib is None:
            sys.stderr.write("p2psync: no libp2psync.so to bundle (run `make build` first, or set "
                             "P2PSYNC_LIBRARY); the package will look for it on the system path\n")
            return
        if not lib.is_file():
            raise SystemExit(f"p2psync: P2PSYNC_LIBRARY={lib} is not a file")
        dest = Path(self.build_lib) / "p2psync" / "libp2psync.so"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(lib, dest)  # the real file, not the symlink chain
        os.chmod(dest, 0o755)


class BinaryDistribution(Distribution):
    """The bundled library is machine code: the wheel gets a platform tag."""

    def has_ext_modules(self):
        return True


cmdclass = {"build_py": BuildWithLibrary}
try:
    from wheel.bdist_wheel import bdist_wheel

    class PlatformWheel(bdist_wheel):
        def get_tag(self):
            _, _, plat = super().get_tag()
            return "py3", "none", plat  # ctypes only: any Python 3, one platform

    cmdclass["bdist_wheel"] = PlatformWheel
except ImportError:
    pass

setup(cmdclass=cmdclass, distclass=BinaryDistribution)

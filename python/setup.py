"""Copies the runtime library built by `make release` (or SPRUCE_LIBRARY) into the package, so
`pip install ./python` needs no compiler. Everything else is in pyproject.toml."""
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py


class CopyRuntime(build_py):
    def run(self):
        here = os.path.dirname(os.path.abspath(__file__))
        source = os.environ.get("SPRUCE_LIBRARY") or os.path.join(here, "..", ".build", "release", "libSpruceRuntimeC.so")
        if not os.path.exists(source):
            raise SystemExit(f"spruce: {source} does not exist; run 'make release' first (or set SPRUCE_LIBRARY)")
        shutil.copyfile(source, os.path.join(here, "spruce", "libspruce.so"))
        super().run()


setup(cmdclass={"build_py": CopyRuntime})

"""Stand in for the two pkg_resources calls supervisor makes on Python 3.6 and 3.7.

supervisor 4.3.0 imports pkg_resources (setuptools) there, and a bare host may have
no setuptools. Importing the real one also costs a tenth of a second, so on those
versions this small module is always used instead. Does nothing on 3.8 and newer.
"""

import importlib
import os
import sys
import types


class _EntryPoint:
    """The subset of pkg_resources.EntryPoint that supervisor.compat uses."""

    def __init__(self, module, attrs):
        self.module = module
        self.attrs = attrs

    @classmethod
    def parse(cls, text):
        _, _, spec = text.partition("=")
        module, _, attrs = spec.strip().partition(":")
        return cls(module.strip(), [a for a in attrs.strip().split(".") if a])

    def resolve(self):
        obj = importlib.import_module(self.module)
        for attr in self.attrs:
            obj = getattr(obj, attr)
        return obj


def _resource_filename(package, path):
    module = importlib.import_module(package)
    return os.path.join(os.path.dirname(module.__file__), path)


def install():
    """Make "import pkg_resources" give the subset supervisor needs, on 3.6 and 3.7."""
    if sys.version_info >= (3, 8) or "pkg_resources" in sys.modules:
        return
    shim = types.ModuleType("pkg_resources")
    shim.EntryPoint = _EntryPoint
    shim.resource_filename = _resource_filename
    sys.modules["pkg_resources"] = shim

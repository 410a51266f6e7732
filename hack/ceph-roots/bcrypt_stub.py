# bcrypt stand-in installed by hack/ceph-root.sh into the Ceph roots that need it.
#
# Reef's ceph-mgr runs every mgr module in a Python sub-interpreter, and each
# one imports mgr_module -> mgr_util, whose first lines `import bcrypt`.
# Debian 13's python3-bcrypt (4.2.0) is a PyO3 (Rust) extension, and PyO3
# refuses sub-interpreters, so every mgr module fails to load, `volumes` (the
# one the CSI driver needs) among them:
#   ImportError: PyO3 modules do not yet support subinterpreters,
#   see https://github.com/PyO3/pyo3/issues/576
# Nothing the test clusters run hashes passwords (that is the dashboard's
# business), so this module only has to import. hack/ceph-root.sh installs it
# in place of bcrypt/__init__.py (dpkg-divert keeps the real one beside it);
# it fails loudly if anything does call it, rather than returning wrong hashes.
# Tentacle's mgr_util does not import bcrypt: its roots have no stub.

__version__ = "0+cephfs-csi-stub"


class StubError(RuntimeError):
    """bcrypt was used inside a cephfs-csi test root, where it is a stub."""


def _unavailable(name):
    def call(*args, **kwargs):
        raise StubError(
            "bcrypt.%s: bcrypt is a stub in this Ceph root (see "
            "hack/ceph-roots/bcrypt_stub.py in cephfs-csi)" % name)
    call.__name__ = name
    return call


hashpw = _unavailable("hashpw")
checkpw = _unavailable("checkpw")
gensalt = _unavailable("gensalt")
kdf = _unavailable("kdf")


def __getattr__(name):
    # Any other public name resolves to a function that raises when called;
    # dunder lookups (e.g. by importlib or pickle) stay ordinary misses.
    if name.startswith("__"):
        raise AttributeError(name)
    return _unavailable(name)

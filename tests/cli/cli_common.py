"""Shared fixtures for the CLI tests: a temporary $PUDDLE_HOME and a runner
for the built puddle binary (the same file `meson install` puts in /usr/bin)."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

PUDDLE = os.environ.get("PUDDLE_BIN", "")
# Small KDF parameters keep the suite fast; one test checks the defaults.
FAST_KDF = "[kdf]\nopslimit = 1\nmemlimit_kib = 8192\n"


def strict_json(data):
    """puddle's --json output as a value: strict UTF-8 (a stray byte or a lone
    surrogate escape is an error, not a replacement), strict JSON (no NaN,
    no duplicate keys), exactly one line."""
    text = data.decode("utf-8", errors="strict") if isinstance(data, bytes) else data
    if text.count("\n") != 1 or not text.endswith("\n"):
        raise ValueError("--json output is not exactly one line: %r" % text[:200])

    def no_constants(name):
        raise ValueError("non-JSON constant " + name)

    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        if len(keys) != len(set(keys)):
            raise ValueError("duplicate keys in %r" % keys)
        return dict(pairs)

    value = json.loads(text, parse_constant=no_constants, object_pairs_hook=no_duplicates)
    # A lone surrogate escape decodes without error in Python; it is not UTF-8.
    json.dumps(value, ensure_ascii=False).encode("utf-8", errors="strict")
    return value


class PuddleCase(unittest.TestCase):
    def setUp(self):
        if not PUDDLE or not os.access(PUDDLE, os.X_OK):
            self.fail("PUDDLE_BIN must name the built puddle binary")
        self.tmp = tempfile.mkdtemp(prefix="puddle-cli-")
        self.home = os.path.join(self.tmp, "state")
        self.xdg = os.path.join(self.tmp, "config")
        os.makedirs(os.path.join(self.xdg, "puddle"))
        self.write_config(FAST_KDF)
        self.env = {
            "PATH": "/usr/bin:/bin",
            "HOME": self.tmp,
            "PUDDLE_HOME": self.home,
            "XDG_CONFIG_HOME": self.xdg,
            "PUDDLE_SYSTEM_CONFIG": os.path.join(self.tmp, "no-system-config.toml"),
        }

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write_config(self, text):
        with open(os.path.join(self.xdg, "puddle", "puddle.toml"), "w") as f:
            f.write(text)

    def run_puddle(self, *args, passphrases=None, input_data=None, timeout=30, env_extra=None, prefix=()):
        """Runs puddle (after `prefix`, a wrapper command) without a controlling terminal. `passphrases` is a list
        of lines written to a pipe; the argument "FD" is replaced by the
        pipe's descriptor number (e.g. "--passphrase-fd", "FD")."""
        pass_fds = ()
        r = None
        if passphrases is not None:
            r, w = os.pipe()
            os.write(w, "".join(p + "\n" for p in passphrases).encode())
            os.close(w)
            pass_fds = (r,)
            args = [str(r) if a == "FD" else a for a in args]
        try:
            env = dict(self.env, **(env_extra or {}))
            return subprocess.run([*prefix, PUDDLE, *args], env=env, input=input_data,
                                  capture_output=True, timeout=timeout, pass_fds=pass_fds,
                                  start_new_session=True)
        finally:
            if r is not None:
                os.close(r)

    def init(self, passphrase="correct horse"):
        p = self.run_puddle("init", "--passphrase-fd", "FD", passphrases=[passphrase])
        self.assertEqual(p.returncode, 0, p.stderr)
        return p

    def file(self, name):
        return os.path.join(self.home, name)

    def read(self, name):
        with open(self.file(name), "rb") as f:
            return f.read()

    def snapshot(self):
        return {n: self.read(n) for n in sorted(os.listdir(self.home)) if n != ".lock"}


def main():
    """unittest with meson's exit codes: 77 (skipped) when every test was
    skipped because a component cannot run here, 1 on a failure."""
    import sys
    result = unittest.main(module="__main__", verbosity=2, exit=False).result
    if result.failures or result.errors:
        sys.exit(1)
    if result.skipped and len(result.skipped) >= result.testsRun:
        print(result.skipped[0][1])
        sys.exit(77)
    sys.exit(0)

"""swtpm, Debian's software TPM 2.0, for the tests that seal the envoy secret
in a TPM: one process of the test's own on 127.0.0.1, reached through
tpm2-tss's swtpm TCTI."""
import os
import shutil
import socket
import subprocess
import time


def free_port_pair():
    """Two consecutive free TCP ports on 127.0.0.1 (server, control)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port < 65000:
            try:
                with socket.socket() as s2:
                    s2.bind(("127.0.0.1", port + 1))
                return port
            except OSError:
                continue
    raise RuntimeError("no free port pair")


class SwTpm:
    """One swtpm process of ours, with its own state directory."""

    def __init__(self, state_dir):
        self.state_dir = state_dir
        os.makedirs(state_dir, exist_ok=True)
        self.port = free_port_pair()
        self.proc = subprocess.Popen(
            ["swtpm", "socket", "--tpm2", "--tpmstate", f"dir={state_dir}",
             "--server", f"type=tcp,port={self.port},bindaddr=127.0.0.1",
             "--ctrl", f"type=tcp,port={self.port + 1},bindaddr=127.0.0.1",
             "--flags", "startup-clear,not-need-init"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("swtpm exited: " + self.proc.stderr.read().decode(errors="replace"))
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("swtpm did not listen within 10 s")

    @property
    def tcti(self):
        return f"swtpm:host=127.0.0.1,port={self.port}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()


def tpm_support(binary):
    """None where `binary` can seal to swtpm here, else "SKIP: why"."""
    if not shutil.which("swtpm"):
        return "SKIP: swtpm is not installed (Debian: swtpm, swtpm-tools)"
    # puddle dlopen()s tpm2-tss on first use (core/tpm.cpp), so a build with
    # TPM support names the library inside rather than linking it.
    with open(binary, "rb") as f:
        built_with = b"libtss2-esys.so.0" in f.read()
    if not built_with:
        return "SKIP: this puddle was built without tpm2-tss (libtss2-dev)"
    loadable = subprocess.run(["/sbin/ldconfig", "-p"], capture_output=True, text=True).stdout
    return None if "libtss2-esys.so.0" in loadable else "SKIP: libtss2-esys.so.0 is not installed (Debian: libtss2-esys-3.0.2-0)"

"""A second host for tests: a network namespace joined to the root namespace
by a veth pair, on a private /24 picked at random under 10.231.0.0/16.
Context manager; deletes the namespace and the veth on exit, even after a
failure. Only addresses inside it (and loopback) are ever used."""
import os
import secrets
import subprocess


class NetNs:
    def __init__(self, prefix="pdn"):
        tag = secrets.token_hex(3)
        self.name = prefix + tag
        self.veth_host = "pv" + tag[:6] + "a"
        self.veth_peer = "pv" + tag[:6] + "b"
        octet = 1 + secrets.randbelow(250)
        self.host_ip = f"10.231.{octet}.1"
        self.peer_ip = f"10.231.{octet}.2"
        self._made = False

    def _ip(self, *args, check=True):
        return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)

    def __enter__(self):
        try:
            self._ip("netns", "add", self.name)
            self._made = True
            self._ip("link", "add", self.veth_host, "type", "veth", "peer", "name", self.veth_peer)
            self._ip("link", "set", self.veth_peer, "netns", self.name)
            self._ip("addr", "add", self.host_ip + "/24", "dev", self.veth_host)
            self._ip("link", "set", self.veth_host, "up")
            self._ip("-n", self.name, "addr", "add", self.peer_ip + "/24", "dev", self.veth_peer)
            self._ip("-n", self.name, "link", "set", self.veth_peer, "up")
            self._ip("-n", self.name, "link", "set", "lo", "up")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        self._ip("link", "del", self.veth_host, check=False)
        if self._made:
            self._ip("netns", "del", self.name, check=False)
        return False

    def command(self, argv, hostname=None):
        """argv run inside the namespace (as root), optionally in its own UTS
        namespace with `hostname`, so the peer is a different host by name too."""
        if hostname:
            argv = ["unshare", "--uts", "--", "sh", "-c", 'hostname "$0" && exec "$@"', hostname, *argv]
        return ["ip", "netns", "exec", self.name, *argv]

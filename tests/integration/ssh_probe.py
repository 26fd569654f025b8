"""One well-formed exchange on the ssh-agent door, run as the test user:
REQUEST_IDENTITIES, then SIGN_REQUEST of HEX data with the first key.
Prints one JSON object: {"keys": ["<hex of the 32-byte ed25519 key>", ...],
"sig": "<hex of the 64-byte signature>" or null, "reply_type": N}.

  ssh_probe.py SOCKET HEX"""
import json
import socket
import struct
import sys


def string(b):
    return struct.pack(">I", len(b)) + b


def read_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("agent closed the connection")
        buf += chunk
    return buf


def request(s, body):
    s.sendall(string(body))
    (n,) = struct.unpack(">I", read_exact(s, 4))
    return read_exact(s, n)


class Reader:
    def __init__(self, b):
        self.b, self.i = b, 0

    def u32(self):
        (v,) = struct.unpack_from(">I", self.b, self.i)
        self.i += 4
        return v

    def str(self):
        n = self.u32()
        v = self.b[self.i:self.i + n]
        assert len(v) == n, "short string"
        self.i += n
        return v


def main():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(sys.argv[1])
    data = bytes.fromhex(sys.argv[2])
    reply = request(s, bytes([11]))
    out = {"keys": [], "sig": None, "reply_type": None}
    assert reply[0] == 12, reply[:20]
    r = Reader(reply[1:])
    blobs = []
    for _ in range(r.u32()):
        blob, _comment = r.str(), r.str()
        k = Reader(blob)
        if k.str() == b"ssh-ed25519":
            out["keys"].append(k.str().hex())
            blobs.append(blob)
    if blobs:
        reply = request(s, bytes([13]) + string(blobs[0]) + string(data) + struct.pack(">I", 0))
        out["reply_type"] = reply[0]
        if reply[0] == 14:
            sig = Reader(Reader(reply[1:]).str())
            assert sig.str() == b"ssh-ed25519"
            out["sig"] = sig.str().hex()
    print(json.dumps(out))


if __name__ == "__main__":
    main()

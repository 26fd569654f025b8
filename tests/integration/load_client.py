"""Load on agent.sock, run as the test user: CLIENTS processes (fork), each
with its own persistent connection, send COUNT `SIGN` requests each and
check every reply: `OK <base64>` whose signature verifies under PUB
(python3-nacl). Half of the clients wait for each reply before the next
request; the other half pipeline BATCH requests at a time. Message sizes
vary (mostly small, a few of tens of kB). All clients connect first and
start together.

  load_client.py --pub ed25519:<hex> --clients 32 --count 3000 [--seed N] [--batch 50] [--no-verify]

Prints one JSON object: {"ok": N, "verified": N, "errors": N,
"first_errors": [...], "seconds": S, "per_client_ok": [...]}; exit 0 even
when there are errors (the test judges)."""
import argparse
import base64
import json
import os
import random
import socket
import struct
import sys
import time

import nacl.exceptions
import nacl.signing

SIZES = [0, 1, 16, 32, 64, 200, 1000, 4096, 20000, 45000]
WEIGHTS = [2, 4, 30, 30, 15, 10, 5, 2, 1, 1]


def message(rng, client, i):
    n = rng.choices(SIZES, WEIGHTS)[0]
    head = b"load %d %d " % (client, i)
    return head + rng.randbytes(max(0, n - len(head)))


def one_client(args, client, start_r, result_w):
    rng = random.Random(args.seed * 1000 + client)
    vk = nacl.signing.VerifyKey(bytes.fromhex(args.pub[len("ed25519:"):]))
    path = os.path.join(os.environ["XDG_RUNTIME_DIR"], "puddle", "agent.sock")
    res = {"ok": 0, "verified": 0, "errors": 0, "first_errors": []}

    def error(what):
        res["errors"] += 1
        if len(res["first_errors"]) < 5:
            res["first_errors"].append(f"client {client}: {what}"[:300])

    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(60)
        s.connect(path)
        f = s.makefile("rb")
        os.read(start_r, 1)  # everyone connected: go
        pipelined = client % 2 == 1
        batch = args.batch if pipelined else 1
        i = 0
        while i < args.count:
            n = min(batch, args.count - i)
            msgs = [message(rng, client, i + k) for k in range(n)]
            s.sendall(b"".join(b"SIGN " + base64.b64encode(m) + b"\n" for m in msgs))
            for m in msgs:
                line = f.readline()
                if not line:
                    error(f"connection closed after {i} replies")
                    raise EOFError
                if not line.startswith(b"OK ") or not line.endswith(b"\n"):
                    error("reply %r" % line[:120])
                    continue
                res["ok"] += 1
                if args.no_verify:
                    continue
                try:
                    sig = base64.b64decode(line[3:-1], validate=True)
                    vk.verify(m, sig)
                    res["verified"] += 1
                except (ValueError, nacl.exceptions.BadSignatureError) as e:
                    error(f"signature {i}: {e!r}")
            i += n
        s.close()
    except EOFError:
        pass
    except OSError as e:
        error(repr(e))
    data = json.dumps(res).encode()
    os.write(result_w, struct.pack("<I", len(data)) + data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pub", required=True)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--count", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--no-verify", action="store_true", help="count OK replies without checking the signatures")
    args = ap.parse_args()
    start_r, start_w = os.pipe()
    children = []
    results = []
    for c in range(args.clients):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            os.close(start_w)
            code = 0
            try:
                one_client(args, c, start_r, w)
            except BaseException:  # noqa: BLE001 -- report, never hang the parent
                code = 1
            os._exit(code)
        os.close(w)
        children.append((pid, r))
    time.sleep(0.5)  # let every child connect
    t0 = time.monotonic()
    os.write(start_w, b"x" * args.clients)
    for pid, r in children:
        buf = b""
        while True:
            chunk = os.read(r, 65536)
            if not chunk:
                break
            buf += chunk
        os.close(r)
        os.waitpid(pid, 0)
        if len(buf) >= 4:
            results.append(json.loads(buf[4:4 + struct.unpack("<I", buf[:4])[0]]))
        else:
            results.append({"ok": 0, "verified": 0, "errors": 1, "first_errors": [f"child {pid} crashed"]})
    seconds = time.monotonic() - t0
    out = {"ok": sum(r["ok"] for r in results), "verified": sum(r["verified"] for r in results),
           "errors": sum(r["errors"] for r in results),
           "first_errors": [e for r in results for e in r["first_errors"]][:20],
           "seconds": seconds, "per_client_ok": [r["ok"] for r in results]}
    print(json.dumps(out))
    sys.stdout.flush()


main()

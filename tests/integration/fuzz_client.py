"""Hostile traffic on one of the agent's doors, run as the test user (so the
peer check passes and the parsers see the bytes): CONNECTIONS connections,
WORKERS at a time, each sending up to 100 kB of random or half-structured
bytes, then either half-closing and reading until the agent closes (or 3 s
pass), or closing at once (unread replies, sometimes with a reset).

  fuzz_client.py --door line|ssh --path SOCKET [--connections 300] [--seed N]
                 [--workers 16] [--max-bytes 100000]

Prints one JSON object with what happened ("kinds", "endings", "agent_closed",
"timeouts", "connect_errors", "bytes_sent", "replies"); exits 0 (the test
judges, by whether the agent is still the same process and still serves)."""
import argparse
import base64
import json
import random
import socket
import struct
import threading
import time

LINE_VERBS = [b"SIGN", b"STATUS", b"PUBKEY", b"SIGN", b"sign", b"SIGN  ", b"FROB", b"", b"\x00", b"SIGN\t"]


def log_length(rng, top):
    return min(top, int(10 ** rng.uniform(0, 5)))  # 1 .. 100000, log-uniform


def no_newlines(b):
    return b.replace(b"\n", b"x")


def line_payload(rng, top):
    kind = rng.choice(["random", "random-no-newline", "lines", "long-line", "valid-and-junk", "crlf-nul"])
    n = log_length(rng, top)
    if kind == "random":
        return kind, rng.randbytes(n)
    if kind == "random-no-newline":
        return kind, no_newlines(rng.randbytes(n))
    if kind == "long-line":
        # Past the 65,536-byte limit (when top allows), then more requests.
        n = rng.randint(min(top, 60000), top)
        return kind, b"SIGN " + b"A" * n + b"\nPUBKEY\n"
    out = []
    size = 0
    while size < n:
        verb = rng.choice(LINE_VERBS)
        r = rng.random()
        if kind == "valid-and-junk" and r < 0.4:
            line = b"SIGN " + base64.b64encode(rng.randbytes(rng.randint(0, 300)))
        elif r < 0.5:
            line = verb + b" " + base64.b64encode(rng.randbytes(rng.randint(0, 2000)))[: rng.randint(0, 3000)]
        elif r < 0.7:
            line = verb + b" " + no_newlines(rng.randbytes(rng.randint(0, 500)))
        elif r < 0.8:
            line = verb + b" " + b"=" * rng.randint(0, 10) + b"!!" + b"A" * rng.randint(0, 7)
        else:
            line = verb
        if kind == "crlf-nul":
            line = line.replace(b" ", rng.choice([b"\x00", b" \r", b"\r\n", b"\t"])) + b"\r"
        out.append(line)
        size += len(line) + 1
    data = b"\n".join(out)
    if rng.random() < 0.7:
        data += b"\n"
    return kind, data[:top] if rng.random() < 0.2 else data


def string(b):
    return struct.pack(">I", len(b)) + b


def ssh_payload(rng, top, key_blob):
    kind = rng.choice(["random", "frames", "bad-lengths", "sign-requests", "valid-and-junk"])
    n = log_length(rng, top)
    if kind == "random":
        return kind, rng.randbytes(n)
    out = b""
    while len(out) < n:
        r = rng.random()
        t = rng.choice([11, 13, 17, 18, 19, 20, 21, 22, 23, 25, 26, 27, 0, 1, 5, 12, 14, 255, rng.randint(0, 255)])
        if kind == "bad-lengths" and r < 0.5:
            # Claimed length disagreeing with what follows, or absurd.
            claimed = rng.choice([0, 1, 5, 0xFFFFFFFF, 0x7FFFFFFF, 256 * 1024 + 1, rng.randint(0, 1 << 20)])
            out += struct.pack(">I", claimed) + bytes([t]) + rng.randbytes(rng.randint(0, 64))
            continue
        if kind in ("sign-requests", "valid-and-junk") and r < 0.5:
            blob = key_blob if rng.random() < 0.7 else rng.choice([
                b"", string(b"ssh-ed25519"), string(b"ssh-ed25519") + string(rng.randbytes(31)),
                string(b"ssh-rsa") + string(rng.randbytes(32)), rng.randbytes(rng.randint(0, 80)),
                struct.pack(">I", 0xFFFFFFF0) + b"ssh-ed25519"])
            data = rng.randbytes(rng.randint(0, 4000))
            flags = rng.choice([0, 2, 4, 0xFFFFFFFF, rng.randint(0, (1 << 32) - 1)])
            body = bytes([13]) + string(blob) + string(data) + struct.pack(">I", flags)
            if rng.random() < 0.2:
                body = body[: rng.randint(1, len(body))]  # truncated inside the frame
            out += string(body)
            continue
        if kind == "valid-and-junk" and r < 0.7:
            out += string(bytes([11]))
            continue
        body = bytes([t]) + rng.randbytes(rng.randint(0, 600))
        out += string(body)
    return kind, out


def one_connection(args, i, key_blob, stats, lock):
    rng = random.Random(args.seed * 100003 + i)
    if args.door == "line":
        kind, data = line_payload(rng, args.max_bytes)
    else:
        kind, data = ssh_payload(rng, args.max_bytes, key_blob)
    ending = rng.choice(["half-close-and-read", "half-close-and-read", "close-at-once", "reset", "chunks-then-read"])
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    received = 0
    replies = bytearray()
    closed_by_agent = timeout = False
    try:
        s.connect(args.path)
    except OSError as e:
        with lock:
            stats["connect_errors"].append(repr(e))
        return
    # Read concurrently, so an agent that answers while we still send never
    # deadlocks against us (both sides blocked on full buffers).
    reader_done = threading.Event()

    def reader():
        nonlocal received, closed_by_agent, timeout
        try:
            s.settimeout(3)
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    closed_by_agent = True
                    break
                received += len(chunk)
                if len(replies) < (1 << 20):
                    replies.extend(chunk)
        except socket.timeout:
            timeout = True
        except OSError:
            closed_by_agent = True
        reader_done.set()

    sent = 0
    try:
        if ending == "close-at-once" or ending == "reset":
            s.sendall(data)
            sent = len(data)
            if ending == "reset":
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:
            t = threading.Thread(target=reader, daemon=True)
            t.start()
            pos = 0
            while pos < len(data):
                step = len(data) if ending != "chunks-then-read" else rng.randint(1, 4096)
                s.sendall(data[pos:pos + step])
                pos += step
                sent = pos
            try:
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            reader_done.wait(15)
    except OSError:
        closed_by_agent = True  # the agent closed while we were sending (e.g. too-large)
        if ending not in ("close-at-once", "reset"):
            reader_done.wait(5)
    finally:
        s.close()
    with lock:
        stats["kinds"][kind] = stats["kinds"].get(kind, 0) + 1
        stats["endings"][ending] = stats["endings"].get(ending, 0) + 1
        stats["bytes_sent"] += sent
        stats["replies_bytes"] += received
        if args.door == "line":
            for line in bytes(replies).split(b"\n"):
                word = line.split(b" ", 2)
                key = (word[0] + b" " + word[1] if word[0] == b"ERR" and len(word) > 1 else word[0]).decode(
                    "ascii", "replace")
                if key:
                    stats["replies"][key] = stats["replies"].get(key, 0) + 1
        else:
            pos = 0
            while pos + 5 <= len(replies):
                (n,) = struct.unpack_from(">I", replies, pos)
                key = "type %d" % replies[pos + 4]
                stats["replies"][key] = stats["replies"].get(key, 0) + 1
                pos += 4 + n
        stats["agent_closed"] += int(closed_by_agent)
        stats["timeouts"] += int(timeout)
        stats["done"] += 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--door", choices=["line", "ssh"], required=True)
    ap.add_argument("--path", required=True)
    ap.add_argument("--connections", type=int, default=300)
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-bytes", type=int, default=100000)
    ap.add_argument("--pub", default="")
    args = ap.parse_args()
    key_blob = b""
    if args.pub:
        key_blob = string(b"ssh-ed25519") + string(bytes.fromhex(args.pub[len("ed25519:"):]))
    stats = {"kinds": {}, "endings": {}, "connect_errors": [], "bytes_sent": 0, "replies_bytes": 0,
             "agent_closed": 0, "timeouts": 0, "done": 0, "replies": {}}
    lock = threading.Lock()
    next_i = [0]

    def worker():
        while True:
            with lock:
                i = next_i[0]
                next_i[0] += 1
            if i >= args.connections:
                return
            one_connection(args, i, key_blob, stats, lock)

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(args.workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats["seconds"] = round(time.monotonic() - t0, 2)
    stats["connect_errors"] = stats["connect_errors"][:10]
    print(json.dumps(stats))


main()

"""Talks to agent.sock as whoever runs it (the tests run it as the test
user). Reads requests from stdin, one per line, sends each and reads one
reply line; prints one JSON list of replies. "<CLOSED>" marks a closed
connection. With --raw, sends stdin as it is and prints everything read
until the agent closes or 5 s pass. --socket PATH talks to PATH instead (an
agent started by hand)."""
import json
import os
import socket
import sys


def main():
    path = os.path.join(os.environ["XDG_RUNTIME_DIR"], "puddle", "agent.sock")
    if "--socket" in sys.argv:
        path = sys.argv[sys.argv.index("--socket") + 1]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # Longer than the agent's own 10 s limit on a polkit answer, so a slow
    # polkit shows as the agent's reply (a denial), not as a client timeout.
    s.settimeout(20)
    s.connect(path)
    out = []
    if "--repeat" in sys.argv:
        # One persistent connection: send the stdin line every INTERVAL
        # seconds, COUNT times; print [seconds since start, reply] pairs.
        import time
        count = int(sys.argv[sys.argv.index("--repeat") + 1])
        interval = float(sys.argv[sys.argv.index("--interval") + 1])
        line = sys.stdin.buffer.read().rstrip(b"\n") + b"\n"
        f = s.makefile("rb")
        t0 = time.monotonic()
        for _ in range(count):
            s.sendall(line)
            out.append([time.monotonic() - t0, f.readline().decode().rstrip("\n")])
            time.sleep(interval)
        print(json.dumps(out))
        return
    data = sys.stdin.buffer.read()
    if "--raw" in sys.argv:
        s.sendall(data)
        buf = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    buf += b"<CLOSED>"
                    break
                buf += chunk
        except socket.timeout:
            pass
        print(json.dumps([buf.decode("latin-1")]))
        return
    f = s.makefile("rb")
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()
    for line in lines:
        try:
            s.sendall(line + b"\n")
        except OSError:
            out.append("<CLOSED>")
            break
        reply = f.readline()
        if not reply:
            out.append("<CLOSED>")
            break
        out.append(reply.decode().rstrip("\n"))
    print(json.dumps(out))


main()

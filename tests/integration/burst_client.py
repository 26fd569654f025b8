"""Many concurrent requests on agent.sock, as whoever runs it (the tests run
it as the test user). Prints one JSON object with the count of each reply
kind ("OK", "ERR denied", ...).

  burst_client.py N                 N connections, each sends SIGN at once, reads one reply
  burst_client.py N --hangup        N connections, each sends SIGN and closes at once
                                    (the caller is gone before polkit looks at it)
  burst_client.py N --hold SECONDS  N idle connections, held SECONDS; prints "ready" once all
                                    are accepted, then how many the agent closed meanwhile
"""
import collections
import json
import os
import selectors
import socket
import sys
import time


def connect_all(n):
    path = os.path.join(os.environ["XDG_RUNTIME_DIR"], "puddle", "agent.sock")
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        socks.append(s)
    return socks


def hold(n, seconds):
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 64), hard))
    socks = connect_all(n)
    # One request on the last one: once it is answered, every earlier
    # connection has been accepted (the agent accepts in order).
    socks[-1].sendall(b"PUBKEY\n")
    socks[-1].recv(4096)
    print("ready", flush=True)
    time.sleep(seconds)
    closed = 0
    for s in socks:
        s.setblocking(False)
        try:
            closed += s.recv(1) == b""
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
    print(json.dumps({"held": n, "closed_by_agent": closed}), flush=True)


def main():
    n = int(sys.argv[1])
    hangup = "--hangup" in sys.argv
    if "--hold" in sys.argv:
        return hold(n, float(sys.argv[sys.argv.index("--hold") + 1]))
    socks = connect_all(n)
    for s in socks:  # every request is in flight before any reply is read
        s.sendall(b"SIGN eA==\n")
    counts = collections.Counter()
    if hangup:
        for s in socks:
            s.close()
        print(json.dumps({"sent": n}))
        return
    sel = selectors.DefaultSelector()
    bufs = {}
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        bufs[s] = b""
    deadline = time.monotonic() + 60
    while bufs and time.monotonic() < deadline:
        for key, _ in sel.select(1):
            s = key.fileobj
            data = s.recv(4096)
            bufs[s] += data
            if b"\n" in bufs[s] or not data:
                line = bufs.pop(s).split(b"\n")[0].decode(errors="replace")
                counts["OK" if line.startswith("OK ") else " ".join(line.split()[:2]) or "<closed>"] += 1
                sel.unregister(s)
                s.close()
    if bufs:
        counts["<no reply>"] += len(bufs)
    print(json.dumps(dict(counts)))


if __name__ == "__main__":
    main()

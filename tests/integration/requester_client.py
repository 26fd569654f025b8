"""Plays the requester tricks of issue 23 on agent.sock as whoever runs it
(the tests run it as the test user); prints one JSON object.

  requester_client.py fork-exec B64 [PROGRAM ARG...]   connect, STATUS (the
      agent has met this process), fork; the parent execs PROGRAM (default
      /bin/sleep 3), the child keeps the socket and sends SIGN B64 once the
      parent runs it
  requester_client.py exec PROGRAM B64   connect, STATUS, then exec PROGRAM
      (a copy of python3) running this script's "after-exec" on the same
      socket, which sends SIGN B64
  requester_client.py sign B64   connect and SIGN (run under an oddly named
      interpreter to see how it is shown)
"""
import json
import os
import socket
import sys
import time


def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(os.path.join(os.environ["XDG_RUNTIME_DIR"], "puddle", "agent.sock"))
    return s


def ask(s, line):
    s.sendall(line.encode() + b"\n")
    out = b""
    while not out.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            return out.decode() + "<CLOSED>"
        out += chunk
    return out.decode().rstrip("\n")


def main():
    mode = sys.argv[1]
    if mode == "sign":
        s = connect()
        print(json.dumps({"sign": ask(s, "SIGN " + sys.argv[2])}))
    elif mode == "fork-exec":
        target = sys.argv[3:] or ["/bin/sleep", "3"]
        s = connect()
        status = ask(s, "STATUS")
        parent = os.getpid()
        me = os.readlink("/proc/self/exe")
        if os.fork() == 0:
            # Until the parent runs PROGRAM: the SIGN then comes from a
            # process that is not the one that connected.
            for _ in range(200):
                try:
                    if os.readlink(f"/proc/{parent}/exe") != me:
                        break
                except OSError:
                    pass
                time.sleep(0.02)
            print(json.dumps({"status": status, "sign": ask(s, "SIGN " + sys.argv[2])}), flush=True)
            os._exit(0)
        os.execv(target[0], target)
    elif mode == "exec":
        s = connect()
        status = ask(s, "STATUS")
        os.set_inheritable(s.fileno(), True)
        os.execv(sys.argv[2], [sys.argv[2], os.path.abspath(__file__), "after-exec", str(s.fileno()), status,
                               sys.argv[3]])
    elif mode == "after-exec":
        s = socket.socket(fileno=int(sys.argv[2]))
        s.settimeout(20)
        print(json.dumps({"status": sys.argv[3], "sign": ask(s, "SIGN " + sys.argv[4])}))
    else:
        raise SystemExit("unknown mode " + mode)


main()

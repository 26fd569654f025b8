"""The attacker: another process of the same user, trying to take the agent's
key by every door that needs no ptrace attach. Runs inside the booted
container as that user; prints one JSON object.

  probe.py secret STATE_DIR PASSFILE       (as the owner) seed and secret key, hex,
                                           unwrapped independently with python3-nacl
  probe.py keyrings SEED_HEX SK_HEX        every key reachable from @s, @u, @us and
                                           listed in /proc/keys, read with keyctl after
                                           linking @u and @us into @s (possession)
  probe.py files SEED_HEX SK_HEX DIR...    every readable file below the DIRs
  probe.py serial SERIAL                   keyctl describe/read/timeout of one key
  probe.py traced AGENT SOCKET             starts AGENT under ptrace (PTRACE_TRACEME),
                                           as an attacker who wants to stay attached
  probe.py memory PID SEED_HEX SK_HEX      process_vm_readv, /proc/PID/mem, /proc/PID/environ
                                           and pidfd_getfd on PID
"""
import base64
import ctypes
import errno
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli"))


def needles(seed_hex, sk_hex):
    out = []
    for h in (seed_hex, sk_hex):
        raw = bytes.fromhex(h)
        out += [raw, h.encode(), h.upper().encode(), base64.b64encode(raw), base64.b64encode(raw).rstrip(b"=")]
    # The seed's first half is enough to give it away in a truncated or split copy.
    out.append(bytes.fromhex(seed_hex)[:16])
    return out


def keyctl(*args, binary=False):
    r = subprocess.run(["keyctl"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = r.stdout if binary else r.stdout.decode(errors="replace")
    return r.returncode, out, r.stderr.decode(errors="replace").strip()


def cmd_secret(state_dir, passfile):
    from nacl_unwrap import unwrap
    with open(os.path.join(state_dir, "identity.wrapped"), "rb") as f:
        wrapped = f.read()
    with open(os.path.join(state_dir, "identity.salt"), "rb") as f:
        salt = f.read()
    with open(os.path.join(state_dir, "identity.pub")) as f:
        pub_line = f.read()
    with open(passfile, "rb") as f:
        passphrase = f.read().rstrip(b"\n")
    seed = unwrap(wrapped, salt, pub_line, passphrase, home=os.path.dirname(os.path.abspath(state_dir)))
    return {"seed": seed.hex(), "sk": (seed + bytes.fromhex(pub_line[8:-1])).hex()}


def cmd_keyrings(seed_hex, sk_hex):
    wanted = needles(seed_hex, sk_hex)
    seen, read, refused, leaks = set(), 0, 0, []
    # Possession is what opens a key with possessor-only permissions: link
    # the user keyrings into this process's session keyring first (the uid
    # may link them; a login on systemd 257 does not link @u into @s).
    for spec in ("@u", "@us"):
        keyctl("link", spec, "@s")
    todo = []
    for spec in ("@s", "@u", "@us"):
        rc, out, _ = keyctl("show", "-x", spec)
        todo += [int(m, 16) for m in re.findall(r"^\s*(0x[0-9a-f]+)", out, re.M)]
    with open("/proc/keys") as f:
        todo += [int(line.split()[0], 16) for line in f if line.strip()]
    while todo:
        k = todo.pop()
        if k in seen:
            continue
        seen.add(k)
        rc, desc, _ = keyctl("rdescribe", str(k))
        if rc == 0 and desc.startswith("keyring;"):
            rc2, out, _ = keyctl("rlist", str(k))
            if rc2 == 0:
                todo += [int(x) for x in out.split()]
            continue
        rc, payload, err = keyctl("pipe", str(k), binary=True)
        if rc != 0:
            refused += 1
            continue
        read += 1
        if any(n in payload for n in wanted):
            leaks.append({"key": k, "description": desc.strip()})
    return {"keys_seen": len(seen), "keys_read": read, "keys_refused": refused, "leaks": leaks}


def cmd_files(seed_hex, sk_hex, dirs):
    wanted = needles(seed_hex, sk_hex)
    scanned, leaks = 0, []
    for top in dirs:
        for dirpath, dirnames, filenames in os.walk(top):
            for name in filenames:
                path = os.path.join(dirpath, name)
                try:
                    if not os.path.isfile(path) or os.path.islink(path):
                        continue
                    with open(path, "rb") as f:
                        data = f.read(1 << 22)
                except OSError:
                    continue
                scanned += 1
                if any(n in data for n in wanted):
                    leaks.append(path)
    return {"files_scanned": scanned, "leaks": leaks}


def cmd_serial(serial):
    out = {}
    for what, args in (("describe", ["describe", serial]), ("read", ["pipe", serial]),
                       ("timeout", ["timeout", serial, "3600"]), ("setperm", ["setperm", serial, "0x3f3f0000"])):
        rc, _, err = keyctl(*args, binary=True)
        out[what] = "ok" if rc == 0 else err
    return out


class IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


def cmd_memory(pid, seed_hex, sk_hex):
    libc = ctypes.CDLL(None, use_errno=True)
    out = {}
    # process_vm_readv of the first readable mapping (the kernel checks
    # PTRACE_MODE_ATTACH before looking at any address).
    try:
        with open("/proc/%d/maps" % pid) as f:
            first = f.readline()
        out["maps"] = "ok"
        addr = int(first.split("-")[0], 16)
    except OSError as e:
        out["maps"] = errno.errorcode.get(e.errno, str(e.errno))
        addr = 0x400000
    buf = ctypes.create_string_buffer(4096)
    local, remote = IoVec(ctypes.cast(buf, ctypes.c_void_p), 4096), IoVec(addr, 4096)
    libc.process_vm_readv.restype = ctypes.c_ssize_t
    n = libc.process_vm_readv(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
    out["process_vm_readv"] = "ok" if n >= 0 else errno.errorcode.get(ctypes.get_errno(), "?")
    for name in ("mem", "environ", "cmdline"):
        try:
            with open("/proc/%d/%s" % (pid, name), "rb") as f:
                f.read(64)
            out[name] = "ok"
        except OSError as e:
            out[name] = errno.errorcode.get(e.errno, str(e.errno))
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
        out["fd_list"] = "ok (%d)" % len(fds)
    except OSError as e:
        out["fd_list"] = errno.errorcode.get(e.errno, str(e.errno))
    # pidfd_getfd (438): another route to the agent's file descriptors.
    pidfd = libc.syscall(434, pid, 0)
    if pidfd >= 0:
        fd = libc.syscall(438, pidfd, 3, 0)
        out["pidfd_getfd"] = "ok" if fd >= 0 else errno.errorcode.get(ctypes.get_errno(), "?")
        os.close(pidfd)
    # A user namespace of the agent's own (systemd >= 254 with namespace
    # sandboxing) shows as a uid_map other than the identity map.
    with open("/proc/%d/uid_map" % pid) as f:
        out["uid_map"] = " ".join(f.read().split())
    return out


def cmd_traced(agent, socket_path):
    libc = ctypes.CDLL(None, use_errno=True)
    pid = os.fork()
    if pid == 0:
        libc.ptrace(0, 0, None, None)  # PTRACE_TRACEME
        os.execv(agent, [agent, "--no-bus", "--socket", socket_path])
    # Stopped at the exec (SIGTRAP); let it run, tracing on, until it exits.
    out = {"stops": 0}
    import time
    deadline = time.monotonic() + 5
    while True:
        got, status = os.waitpid(pid, os.WNOHANG)
        if got == 0:
            if time.monotonic() > deadline:  # still serving, traced: the check failed
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                out["exit"] = 0
                out["still_running_after_s"] = 5
                return out
            time.sleep(0.05)
            continue
        if os.WIFEXITED(status):
            out["exit"] = os.WEXITSTATUS(status)
            return out
        if os.WIFSIGNALED(status):
            out["signal"] = os.WTERMSIG(status)
            return out
        out["stops"] += 1
        sig = os.WSTOPSIG(status)
        libc.ptrace(7, pid, None, 0 if sig == 5 else sig)  # PTRACE_CONT
        if out["stops"] > 50:
            os.kill(pid, 9)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "secret":
        result = cmd_secret(*args)
    elif cmd == "keyrings":
        result = cmd_keyrings(*args)
    elif cmd == "files":
        result = cmd_files(args[0], args[1], args[2:])
    elif cmd == "serial":
        result = cmd_serial(args[0])
    elif cmd == "traced":
        result = cmd_traced(*args)
    elif cmd == "memory":
        result = cmd_memory(int(args[0]), args[1], args[2])
    else:
        raise SystemExit(__doc__)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

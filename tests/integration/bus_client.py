"""Calls org.puddle.Agent1 on the user bus as whoever runs it, with
python3-dbus (an independent client, not puddle's). Prints one JSON object:
{"ok": result} or {"error": name, "message": text}.

  bus_client.py unlock PASSFILE IDLE_USEC WATCH_PID   (passphrase passed as a pipe fd)
  bus_client.py rekey PASSFILE NEWPASSFILE           (both passed as pipe fds)
  bus_client.py sign HEX
  bus_client.py lock
  bus_client.py props
  bus_client.py introspect
"""
import json
import os
import sys

import dbus

NAME, PATH, IFACE = "org.puddle.Agent1", "/org/puddle/Agent1", "org.puddle.Agent1"


def main():
    bus = dbus.SessionBus()
    obj = bus.get_object(NAME, PATH)
    agent = dbus.Interface(obj, IFACE)
    cmd = sys.argv[1]
    try:
        if cmd == "unlock":
            with open(sys.argv[2], "rb") as f:
                secret = f.read()
            r, w = os.pipe()
            os.write(w, secret)
            os.close(w)
            agent.Unlock(dbus.types.UnixFd(r), dbus.UInt64(int(sys.argv[3])), dbus.UInt32(int(sys.argv[4])))
            os.close(r)
            result = None
        elif cmd == "rekey":
            fds = []
            for path in sys.argv[2:4]:
                with open(path, "rb") as f:
                    secret = f.read()
                r, w = os.pipe()
                os.write(w, secret)
                os.close(w)
                fds.append(r)
            # (public_key, sealed_to, unreachable): the key is what the callers compare
            result = str(agent.Rekey(dbus.types.UnixFd(fds[0]), dbus.types.UnixFd(fds[1]), timeout=120)[0])
            for r in fds:
                os.close(r)
        elif cmd == "sign":
            sig = agent.Sign(dbus.ByteArray(bytes.fromhex(sys.argv[2])), byte_arrays=True)
            result = bytes(sig).hex()
        elif cmd == "lock":
            agent.Lock()
            result = None
        elif cmd == "props":
            props = dbus.Interface(obj, "org.freedesktop.DBus.Properties").GetAll(IFACE)
            def plain(v):
                if isinstance(v, dbus.Boolean):
                    return bool(v)
                if isinstance(v, dbus.String):
                    return str(v)
                if isinstance(v, (dbus.Array, dbus.Struct)):
                    return [plain(x) for x in v]
                return int(v)
            result = {str(k): plain(v) for k, v in props.items()}
        elif cmd == "introspect":
            result = str(dbus.Interface(obj, "org.freedesktop.DBus.Introspectable").Introspect())
        else:
            raise SystemExit("unknown command " + cmd)
        print(json.dumps({"ok": result}))
    except dbus.exceptions.DBusException as e:
        print(json.dumps({"error": e.get_dbus_name(), "message": e.get_dbus_message()}))


main()

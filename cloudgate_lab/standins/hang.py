"""A listener that accepts SSH connections and never says a word (the `ssh-hang` fault).

Run inside a host's namespaces in place of sshd: TCP connects succeed, the client then waits for the
"SSH-2.0-..." banner until its own timeout, which is exactly how a wedged sshd (or a host stuck in
swap/IO) looks to the suite. Usage: hang.py <ip> <port> <pidfile>
"""

import os
import socket
import sys
import time

ip, port, pidfile = sys.argv[1], int(sys.argv[2]), sys.argv[3]
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((ip, port))
srv.listen(128)
with open(pidfile + ".tmp", "w") as fh:
    fh.write(f"{os.getpid()}\n")
os.replace(pidfile + ".tmp", pidfile)
held = []
while True:
    conn, _ = srv.accept()
    held.append(conn)  # keep it open and silent
    if len(held) > 512:
        held.pop(0).close()
    time.sleep(0)

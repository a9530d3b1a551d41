#!/usr/bin/env python3
"""Memory bound check: N connections each holding a maximal incomplete request head.

Starts target/release/hsys on a free loopback port, opens N connections, sends each
max_request_bytes - 1 bytes of a head that never ends, and prints the server's RSS before and
after, and per connection. Usage: scripts/memory_check.py [N] (default 10000).
"""
import os, resource, socket, subprocess, sys, time

n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
limit = 16 * 1024
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
binary = os.path.join(os.path.dirname(__file__), "..", "target", "release", "hsys")
srv = subprocess.Popen([binary, f"http://127.0.0.1:{port}/", "--stats", "0", "-t", "2"],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)

def rss_kib():
    with open(f"/proc/{srv.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])

try:
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port)).close(); break
        except OSError:
            time.sleep(0.05)
    time.sleep(0.3)
    before = rss_kib()
    head = b"GET / HTTP/1.1\r\nHost: t\r\nX-Pad: " + b"a" * (limit - 1 - 32)
    head = head[: limit - 1]
    conns = []
    for i in range(n):
        c = socket.create_connection(("127.0.0.1", port))
        c.sendall(head)
        conns.append(c)
    time.sleep(2)
    after = rss_kib()
    alive = sum(1 for c in conns if c.fileno() >= 0)
    print(f"{n} connections x {len(head)} bytes of unfinished head")
    print(f"server RSS before: {before / 1024:.1f} MiB, after: {after / 1024:.1f} MiB, "
          f"growth per connection: {(after - before) * 1024 / n:.0f} bytes "
          f"(the head itself: {len(head)} bytes)")
    c = socket.create_connection(("127.0.0.1", port)); c.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    print("a fresh client is still answered:", c.recv(64).split(b"\r\n")[0].decode())
finally:
    srv.kill(); srv.wait()

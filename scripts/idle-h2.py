#!/usr/bin/env python3
"""Memory per idle HTTP/2 connection, hsys beside its peers (issue 19's figure).

Each server is started from a shell command with {port} (as ../shared/bench/compare.py does),
then N connections each speak HTTP/2 (h2c with prior knowledge, or ALPN h2 over TLS with --tls):
the client preface, an empty SETTINGS, one GET of / whose whole answer is read, a SETTINGS ack,
and then nothing. The figure is the growth of the server's resident memory (its process tree)
divided by N, half a second after the last answer (after a warm-up like the load that comes
before compare.py's own idle figure). Nothing here depends on CPU timing, so it may
run on a busy machine.

  scripts/idle-h2.py --server hsys='target/release/hsys --stats 0 http://127.0.0.1:{port}/' \\
      --server nginx='NGINX_PEER_H2=1 ../shared/bench/nginx-peer.sh {port} 2' \\
      --server hyper='HYPER_PEER_H2=1 /tmp/hsys-peers/release/hyper-peer 127.0.0.1:{port} 512'
"""
import argparse
import os
import resource
import signal
import socket
import ssl
import struct
import subprocess
import sys
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def request(port, scheme):
    # HPACK, static table only: :method GET (2), :scheme http (6) / https (7), :path / (4),
    # :authority as a literal without indexing on static name 1.
    authority = f"127.0.0.1:{port}".encode()
    block = bytes([0x82, 0x86 if scheme == "http" else 0x87, 0x84, 0x01, len(authority)]) + authority
    return PREFACE + frame(4, 0, 0) + frame(1, 0x5, 1, block)  # SETTINGS; HEADERS END_STREAM|END_HEADERS


def read_answer(s):
    """Reads frames until stream 1 ends; acks the server's SETTINGS. False if the peer closed."""
    buf = b""
    acked = ended = False
    while not (acked and ended):
        chunk = s.recv(65536)
        if not chunk:
            return False
        buf += chunk
        while len(buf) >= 9:
            length = int.from_bytes(buf[:3], "big")
            if len(buf) < 9 + length:
                break
            kind, flags, stream = buf[3], buf[4], int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF
            buf = buf[9 + length:]
            if kind == 4 and not flags & 1:
                s.sendall(frame(4, 1, 0))
                acked = True
            if stream == 1 and kind in (0, 1) and flags & 1:
                ended = True
            if kind == 7:
                return False
    return True


def tree_rss_kib(root):
    pids, frontier, children = {root}, [root], {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(d))
            except OSError:
                pass
    while frontier:
        for c in children.get(frontier.pop(), []):
            if c not in pids:
                pids.add(c)
                frontier.append(c)
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def wait_port(port, secs=10):
    end = time.time() + secs
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def measure(port, n, tls):
    ctx = None
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        ctx.set_alpn_protocols(["h2"])
    socks, failed = [], 0
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        if ctx:
            s = ctx.wrap_socket(s)
            if s.selected_alpn_protocol() != "h2":
                sys.exit("the server did not choose h2 by ALPN")
        s.settimeout(5)
        s.sendall(request(port, "https" if tls else "http"))
        socks.append(s)
    for s in socks:
        if not read_answer(s):
            failed += 1
    return socks, failed


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", action="append", required=True, help="name=command with {port}")
    ap.add_argument("--conns", type=int, default=5000)
    ap.add_argument("--tls", action="store_true", help="HTTP/2 over TLS (ALPN h2) instead of h2c")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 2 * args.conns + 4096)), hard))
    print(f"{'server':<10}{'rss before KiB':>16}{'after KiB':>12}{'bytes/conn':>12}{'failed':>8}")
    for i, spec in enumerate(args.server):
        name, cmd = spec.split("=", 1)
        port = 19300 + i
        proc = subprocess.Popen(cmd.format(port=port), shell=True, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.PIPE)
        try:
            if not wait_port(port):
                print(f"{name}: did not start", file=sys.stderr)
                continue
            # Warm-up as the load scenarios before compare.py's idle figure are: 3 x 1,000
            # connections, one request each, closed; so what a server makes once (per-thread
            # buffers, receive buffer rings, tables grown to a thousand connections) is not
            # counted per connection.
            for _ in range(3):
                socks, _ = measure(port, 1000, args.tls)
                for s in socks:
                    s.close()
            time.sleep(0.5)
            before = tree_rss_kib(proc.pid)
            socks, failed = measure(port, args.conns, args.tls)
            time.sleep(0.5)
            after = tree_rss_kib(proc.pid)
            per = (after - before) * 1024 / args.conns
            print(f"{name:<10}{before:>16}{after:>12}{per:>12.0f}{failed:>8}", flush=True)
            for s in socks:
                s.close()
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(3)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""A counting TCP proxy on 127.0.0.1 for benches/compare.sh.

Usage: count_proxy.py UPSTREAM_PORT STATS_FILE
Prints the port it listens on, then forwards every connection to 127.0.0.1:UPSTREAM_PORT.
After each chunk it rewrites STATS_FILE as `requests=N up=BYTES down=BYTES conns=N`:
requests = HTTP request lines (GET/POST/HEAD ... HTTP/1.1) sent by clients,
up/down = bytes client->master / master->client (headers included). Reset by truncating
the file (or `echo reset > STATS_FILE`).
"""
import os
import re
import socket
import sys
import threading

REQ = re.compile(rb"(?:^|\r\n)(?:GET|POST|HEAD|PUT|DELETE) /[^ ]* HTTP/1\.[01]\r\n")
lock = threading.Lock()
stats = {"requests": 0, "up": 0, "down": 0, "conns": 0}


def dump(path):
    # Write-then-rename: a reader never sees a truncated file.
    with open(path + ".tmp", "w") as f:
        f.write("requests={requests} up={up} down={down} conns={conns}\n".format(**stats))
    os.replace(path + ".tmp", path)


def maybe_reset(path):
    try:
        with open(path) as f:
            if f.read().strip() in ("", "reset"):
                for k in stats:
                    stats[k] = 0
    except FileNotFoundError:
        pass


def pump(src, dst, key, path, count):
    tail = b""
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
            with lock:
                stats[key] += len(data)
                if count:
                    window = tail + data
                    stats["requests"] += len(REQ.findall(window)) - len(REQ.findall(tail))
                    tail = window[-256:]
                dump(path)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def main():
    upstream, path = int(sys.argv[1]), sys.argv[2]
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    print(srv.getsockname()[1], flush=True)
    dump(path)
    while True:
        client, _ = srv.accept()
        up = socket.create_connection(("127.0.0.1", upstream))
        with lock:
            maybe_reset(path)
            stats["conns"] += 1
            dump(path)
        threading.Thread(target=pump, args=(client, up, "up", path, True), daemon=True).start()
        threading.Thread(target=pump, args=(up, client, "down", path, False), daemon=True).start()


if __name__ == "__main__":
    main()

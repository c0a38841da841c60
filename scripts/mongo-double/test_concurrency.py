#!/usr/bin/env python3
"""Regression test for the PlantSync MongoDB TEST DOUBLE (not MongoDB): a handshake is never held up by
a long data command.

libmongoc gives a new connection's handshake (`hello`, legacy OP_QUERY `isMaster`) and its monitoring
checks connectTimeoutMS (10 s by default); a double that answered them only after a long aggregation
or bulk write of another test let go of the data lock failed the suite with "No suitable servers found:
socket timeout calling hello". A real server never makes a handshake wait on a data lock either.

What it does: starts the double on a free loopback port, inserts --docs documents, sends an aggregation
that takes seconds in mongomock on connection A, waits until the double has received it
(`plantsyncCommandLog`), sends a `count` on the same database on connection B (a data command: it must
wait for the aggregation), then opens a NEW connection C and runs the handshake and monitoring
commands on it: legacy OP_QUERY isMaster (as libmongoc 1.23 starts), hello, ping, buildInfo,
getParameter, endSessions, saslStart (fails with 18 by design), an unknown command (59) and
plantsyncCommandLog. Each of C's replies must arrive while A's aggregation and B's count are both still
unanswered: ordering, observed in the kernel's receive buffers (select with a zero timeout), not a
wall-clock threshold. Timings are printed for information only.

Usage: python3 -B scripts/mongo-double/test_concurrency.py [--docs N]
       (with the double's interpreter, e.g. ~/.cache/plantsync/mongo-double-venv/bin/python: it needs
       `bson` from pymongo and mongomock). Exit status 0 when every check passes, 1 otherwise.
"""

import argparse
import itertools
import os
import select
import socket
import struct
import subprocess
import sys
import tempfile
import time

import bson
from bson.codec_options import CodecOptions

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plantsync_mongo_double import recv_exact  # noqa: E402  (the double's own framing helper)

HERE = os.path.dirname(os.path.abspath(__file__))
DOUBLE = os.path.join(HERE, "plantsync_mongo_double.py")
OP_REPLY, OP_QUERY, OP_MSG = 1, 2004, 2013
CODEC = CodecOptions(document_class=dict)
DB = "t_concurrency_repro"
IO_TIMEOUT = 300.0  # a hung double fails the test instead of hanging it
request_ids = itertools.count(1)


class Connection:
    """A bare wire-protocol client: one request at a time, replies read when the caller asks."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self):
        self.sock.close()

    def send_msg(self, command, db, sequences=None):
        command = dict(command, **{"$db": db})
        payload = struct.pack("<I", 0) + b"\x00" + bson.encode(command)
        for identifier, docs in (sequences or {}).items():
            body = identifier.encode() + b"\x00" + b"".join(bson.encode(d) for d in docs)
            payload += b"\x01" + struct.pack("<i", 4 + len(body)) + body
        self._send(OP_MSG, payload)

    def send_query(self, command, db):
        payload = (struct.pack("<i", 0) + ("%s.$cmd" % db).encode() + b"\x00" + struct.pack("<ii", 0, -1)
                   + bson.encode(command))
        self._send(OP_QUERY, payload)

    def _send(self, op_code, payload):
        self.sock.sendall(struct.pack("<iiii", 16 + len(payload), next(request_ids), 0, op_code) + payload)

    def has_reply(self):
        """Whether reply bytes are already waiting in the receive buffer (does not consume them)."""
        return bool(select.select([self.sock], [], [], 0)[0])

    def reply(self):
        length, _, _, op_code = struct.unpack("<iiii", self._recv(16))
        body = self._recv(length - 16)
        if op_code == OP_MSG:
            return bson.decode(body[5:], CODEC)
        if op_code == OP_REPLY:
            return bson.decode(body[20:], CODEC)
        raise AssertionError("unexpected reply opcode %d" % op_code)

    def command(self, command, db, sequences=None):
        self.send_msg(command, db, sequences)
        return self.reply()

    def _recv(self, n):
        return recv_exact(self.sock, n)


def start_double(tmp):
    port_file = os.path.join(tmp, "port")
    log = open(os.path.join(tmp, "double.log"), "wb")
    proc = subprocess.Popen([sys.executable, "-B", DOUBLE, "--host", "127.0.0.1", "--port", "0",
                             "--port-file", port_file], stdout=log, stderr=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if os.path.exists(port_file) and os.path.getsize(port_file):
            with open(port_file) as f:
                return proc, int(f.read())
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    with open(os.path.join(tmp, "double.log")) as f:
        sys.stderr.write(f.read())
    raise SystemExit("the double did not start")


# The long command: a hash of a sub-document per document (mongomock evaluates it in pure Python),
# grouped, then counted: seconds of work, a one-document reply.
LONG_PIPELINE = [
    {"$project": {"g": 1, "h": {"$toHashedIndexKey": {"n": "$name", "v": "$v", "t": "$tags"}}}},
    {"$group": {"_id": "$g", "s": {"$sum": {"$mod": ["$h", 1000]}}, "n": {"$sum": 1}}},
    {"$count": "groups"},
]

# Commands a client sends on a new connection or to monitor the server: none touches the data.
# (name, command, database, expected `ok`, expected code or None)
HANDSHAKE = [
    ("hello", {"hello": 1, "helloOk": True}, "admin", 1.0, None),
    ("ping", {"ping": 1}, "admin", 1.0, None),
    ("buildInfo", {"buildInfo": 1}, "admin", 1.0, None),
    ("getParameter", {"getParameter": 1, "featureCompatibilityVersion": 1}, "admin", 1.0, None),
    ("endSessions", {"endSessions": []}, "admin", 1.0, None),
    ("saslStart", {"saslStart": 1, "mechanism": "SCRAM-SHA-256", "payload": b""}, "admin", 0.0, 18),
    ("unknown command", {"plantsyncNoSuchCommand": 1}, DB, 0.0, 59),
    ("plantsyncCommandLog", {"plantsyncCommandLog": 1}, "admin", 1.0, None),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=40000,
                        help="documents the long aggregation reads (default 40000: a few seconds)")
    args = parser.parse_args()
    failures = []

    def check(ok, what):
        print("  %s  %s" % ("PASS" if ok else "FAIL", what), flush=True)
        if not ok:
            failures.append(what)

    with tempfile.TemporaryDirectory(prefix="plantsync-mongo-double-test.") as tmp:
        proc, port = start_double(tmp)
        conns = []
        try:
            a, b, log = Connection(port), Connection(port), Connection(port)
            conns += [a, b, log]
            docs = [{"_id": i, "id": i, "g": i % 50, "name": "plant-%d" % i, "tags": ["a", "b", "c"],
                     "v": {"x": i * 1.5, "y": str(i)}} for i in range(args.docs)]
            reply = a.command({"insert": "big", "ordered": True}, DB, {"documents": docs})
            if reply.get("n") != args.docs:
                raise SystemExit("insert failed: %r" % reply)
            print("double on 127.0.0.1:%d, %d documents in %s.big" % (port, args.docs, DB), flush=True)

            started = time.monotonic()
            a.send_msg({"aggregate": "big", "pipeline": LONG_PIPELINE, "cursor": {}}, DB)
            # Wait until the double has received the aggregation (it counts a command as it arrives).
            while True:
                counts = log.command({"plantsyncCommandLog": 1}, "admin")["databases"].get(DB, {})
                if counts.get("aggregate"):
                    break
                time.sleep(0.01)
            print("connection A: plantsyncCommandLog confirms the double received the aggregation after %.3f s"
          % (time.monotonic() - started),
                  flush=True)
            b.send_msg({"count": "big", "query": {"g": 7}}, DB)

            c = Connection(port)
            conns.append(c)
            print("connection C (new): handshake and monitoring commands while A's aggregation runs:", flush=True)
            t0 = time.monotonic()
            c.send_query({"isMaster": 1, "helloOk": True, "client": {"driver": {"name": "repro", "version": "0"}},
                          "compression": []}, "admin")
            reply = c.reply()
            check(reply.get("ok") == 1.0 and reply.get("maxWireVersion") and not a.has_reply(),
                  "legacy OP_QUERY isMaster answered before A's aggregation (%.3f s)" % (time.monotonic() - t0))
            for name, command, db, ok, code in HANDSHAKE:
                t0 = time.monotonic()
                reply = c.command(command, db)
                right = reply.get("ok") == ok and (code is None or reply.get("code") == code)
                check(right and not a.has_reply(), "%s answered before A's aggregation (%.3f s)%s" % (
                    name, time.monotonic() - t0, "" if right else ": wrong reply %r" % reply))
            check(not b.has_reply(),
                  "control: B's count on the same database (a data command) is still waiting, so the double was busy")

            reply = a.reply()
            long_seconds = time.monotonic() - started
            batch = reply.get("cursor", {}).get("firstBatch")
            check(batch == [{"groups": 50}] if args.docs >= 50 else reply.get("ok") == 1.0,
                  "A's aggregation answered correctly after %.2f s" % long_seconds)
            reply = b.reply()
            check(reply.get("ok") == 1.0 and reply.get("n") == len([d for d in docs if d["g"] == 7]),
                  "B's count answered correctly after A's aggregation")
        finally:
            for conn in conns:
                conn.close()
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    if failures:
        print("FAILED: %d check(s)" % len(failures))
        return 1
    print("OK: a handshake never waits for a data command")
    return 0


if __name__ == "__main__":
    sys.exit(main())

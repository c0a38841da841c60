#!/usr/bin/env python3
"""PlantSync's MongoDB wire-protocol TEST DOUBLE. It is NOT MongoDB.

It speaks enough of the wire protocol (OP_MSG, plus legacy OP_QUERY/OP_REPLY for the handshake that
libmongoc 1.23 starts with) for PlantSync's MongoStore and its tests: hello/isMaster, ping, buildInfo,
endSessions, insert, update (upsert, replacement, operators, aggregation pipelines), delete, find/getMore/killCursors,
aggregate, count, createIndexes/listIndexes, create/drop/dropDatabase/listCollections, with
`writeErrors` (E11000 on unique-index violations). Query matching, update operators and aggregation
stages are mongomock's (PyPI), plus expressions real servers have and mongomock lacks (expressions.py:
`$toHashedIndexKey` with a hash of the double's own, NOT the server's; `$binarySize`, `$toString`,
`$mod`). `buildInfo` reports 7.0.0 (the version that has `$toHashedIndexKey`). A test-only admin command,
`plantsyncCommandLog`, answers how many commands of each name every database received, so a test can
prove that no write reached a read-only producer. Any authentication attempt fails with AuthenticationFailed (18), so
clients can test that path.

One thread per connection. The data commands (reads, writes, cursors, catalog) run one at a time under
one lock for all databases: the in-memory state is not per database (storage.py shares one mongomock
scratch collection and database among all of them, cursor ids are server-wide). The handshake and
monitoring commands (hello/isMaster, ping, buildInfo, getParameter, endSessions, the failing
authentication commands, unknown commands, plantsyncCommandLog) touch no data and never take that lock:
a long aggregation or bulk write of one test does not delay another connection's handshake past
libmongoc's connectTimeoutMS, just as a real server's handshake never waits on data locks
(test_concurrency.py checks it).

Usage: plantsync_mongo_double.py --port N [--host 127.0.0.1] [--port-file F]
"""

import argparse
import datetime
import itertools
import socket
import socketserver
import struct
import sys
import threading

import bson
from bson.codec_options import CodecOptions

from storage import CommandError, DuplicateKey, Server

OP_REPLY, OP_QUERY, OP_MSG = 1, 2004, 2013
MAX_WIRE_VERSION = 13  # MongoDB 5.0; libmongoc 1.23 accepts it
CODEC = CodecOptions(document_class=dict, tz_aware=False)
BATCH_BYTES = 8 * 1024 * 1024

# The data (server_state, cursors, cursor_ids) is guarded by data_lock, held by DATA_COMMANDS only: one
# lock for all databases, because the Server's state is not per database (storage.py: one mongomock
# scratch collection and database serve every update, projection and pipeline; one catalog of
# databases; cursor ids are server-wide). Every other command (the handshake, monitoring, errors)
# touches no data and never waits for it. command_log has its own short lock.
server_state = Server()
data_lock = threading.Lock()
cursors = {}
cursor_ids = itertools.count(1000)
log_lock = threading.Lock()
command_log = {}  # database -> {lower-case command name -> count}; see plantsyncCommandLog
request_ids = itertools.count(1)


COLLECTION_COMMANDS = {
    "getmore", "killcursors", "listcollections", "create", "drop", "createindexes", "listindexes", "insert",
    "update", "delete", "find", "aggregate", "count",
}
DATA_COMMANDS = COLLECTION_COMMANDS | {"listdatabases", "dropdatabase"}


def error(code, code_name, message):
    return {"ok": 0.0, "errmsg": message, "code": code, "codeName": code_name}


def hello_reply(command):
    reply = {
        "helloOk": True,
        "ismaster": True,
        "isWritablePrimary": True,
        "maxBsonObjectSize": 16 * 1024 * 1024,
        "maxMessageSizeBytes": 48_000_000,
        "maxWriteBatchSize": 100_000,
        "localTime": datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None),
        "connectionId": 1,
        "minWireVersion": 0,
        "maxWireVersion": MAX_WIRE_VERSION,
        "readOnly": False,
        "ok": 1.0,
    }
    if "saslSupportedMechs" in command:
        reply["saslSupportedMechs"] = ["SCRAM-SHA-256", "SCRAM-SHA-1"]
    return reply


def open_cursor(ns, docs, batch_size, first_key="firstBatch"):
    batch, rest = take_batch(docs, batch_size)
    cursor_id = 0
    if rest:
        cursor_id = next(cursor_ids)
        cursors[cursor_id] = (ns, rest)
    return {"cursor": {"id": bson.int64.Int64(cursor_id), "ns": ns, first_key: batch}, "ok": 1.0}


def take_batch(docs, batch_size):
    limit = batch_size if batch_size and batch_size > 0 else 101
    count, size = 0, 0
    while count < len(docs) and count < limit:
        encoded = len(bson.encode(docs[count]))
        if count and size + encoded > BATCH_BYTES:
            break
        size += encoded
        count += 1
    return docs[:count], docs[count:]


def write_error_entry(index, exc):
    return {"index": index, "code": exc.code, "errmsg": exc.message}


def log_command(db, lname):
    with log_lock:
        names = command_log.setdefault(db, {})
        names[lname] = names.get(lname, 0) + 1


def control_command(name, lname, command):
    """Commands that touch no data (handshake, monitoring, authentication, unknown names): answered
    without data_lock, so a long data command never holds them up (a real server's handshake does not
    wait on data locks either)."""
    if lname == "plantsynccommandlog":
        with log_lock:
            return {"databases": {d: dict(names) for d, names in command_log.items()}, "ok": 1.0}
    if lname in ("hello", "ismaster"):
        return hello_reply(command)
    if lname == "ping":
        return {"ok": 1.0}
    if lname == "buildinfo":
        # 7.0: the first version with $toHashedIndexKey, which the double emulates (expressions.py). The
        # handshake's maxWireVersion stays 13 (5.0): libmongoc 1.23 speaks no more, and PlantSync's
        # commands need no more.
        return {"version": "7.0.0-plantsync-test-double", "versionArray": [7, 0, 0, 0], "ok": 1.0}
    if lname in ("endsessions", "killallsessions", "getlasterror"):
        return {"ok": 1.0}
    if lname in ("saslstart", "saslcontinue", "authenticate"):
        return error(18, "AuthenticationFailed",
                     "Authentication failed. (the PlantSync MongoDB test double accepts no credentials)")
    if lname == "getparameter":
        return {"ok": 1.0}
    return error(59, "CommandNotFound", "no such command: '%s' (PlantSync MongoDB test double)" % name)


def data_command(name, lname, command, db):
    """DATA_COMMANDS; the caller holds data_lock."""
    if lname == "listdatabases":
        return {"databases": [{"name": n, "sizeOnDisk": 0, "empty": False} for n in server_state.databases],
                "ok": 1.0}
    if lname == "dropdatabase":
        server_state.drop_database(db)
        return {"ok": 1.0}
    coll_name = command[name]
    if lname == "getmore":
        return get_more(command)
    if lname == "killcursors":
        killed = [c for c in command.get("cursors", []) if cursors.pop(int(c), None) is not None]
        return {"cursorsKilled": killed, "cursorsNotFound": [], "cursorsAlive": [], "cursorsUnknown": [],
                "ok": 1.0}
    if lname == "listcollections":
        names = list(server_state.databases.get(db, {}))
        return open_cursor("%s.$cmd.listCollections" % db,
                           [{"name": n, "type": "collection", "options": {}} for n in names], 0)
    if not isinstance(coll_name, str):
        return error(73, "InvalidNamespace", "collection name must be a string")
    ns = "%s.%s" % (db, coll_name)
    if lname == "create":
        server_state.collection(db, coll_name)
        return {"ok": 1.0}
    if lname == "drop":
        if not server_state.drop_collection(db, coll_name):
            return error(26, "NamespaceNotFound", "ns not found")
        return {"ok": 1.0}
    coll = server_state.collection(db, coll_name)
    if lname == "createindexes":
        before = len(coll.indexes)
        for spec in command.get("indexes", []):
            coll.create_index(spec)
        return {"createdCollectionAutomatically": False, "numIndexesBefore": before,
                "numIndexesAfter": len(coll.indexes), "ok": 1.0}
    if lname == "listindexes":
        return open_cursor(ns, coll.index_specs(), 0)
    if lname == "insert":
        return bulk(command, "documents", lambda d: (server_state.insert(coll, d), 1)[1], "n")
    if lname == "update":
        return update(coll, command)
    if lname == "delete":
        return bulk(command, "deletes",
                    lambda d: server_state.delete(coll, d.get("q", {}), int(d.get("limit", 0))), "n")
    if lname == "find":
        docs = server_state.find(coll, command.get("filter"), command.get("projection"), command.get("sort"),
                                 int(command.get("skip", 0)), int(command.get("limit", 0)))
        if command.get("singleBatch"):
            docs = docs[: command.get("batchSize") or len(docs)]
            return {"cursor": {"id": bson.int64.Int64(0), "ns": ns, "firstBatch": docs}, "ok": 1.0}
        return open_cursor(ns, docs, command.get("batchSize"))
    if lname == "aggregate":
        docs = server_state.aggregate(coll, command.get("pipeline", []))
        return open_cursor(ns, docs, (command.get("cursor") or {}).get("batchSize"))
    if lname == "count":
        return {"n": len(list(coll.matching(command.get("query") or {}))), "ok": 1.0}
    return error(59, "CommandNotFound", "no such command: '%s' (PlantSync MongoDB test double)" % name)


def bulk(command, key, apply_one, counter):
    ordered = command.get("ordered", True)
    total, errors = 0, []
    for index, item in enumerate(command.get(key, [])):
        try:
            total += apply_one(item)
        except CommandError as exc:
            errors.append(write_error_entry(index, exc))
            if ordered:
                break
    reply = {counter: total, "ok": 1.0}
    if errors:
        reply["writeErrors"] = errors
    return reply


def update(coll, command):
    ordered = command.get("ordered", True)
    n, modified, upserted, errors = 0, 0, [], []
    for index, stmt in enumerate(command.get("updates", [])):
        try:
            matched, changed, upserted_id = server_state.update(
                coll, stmt.get("q", {}), stmt.get("u", {}), bool(stmt.get("upsert")), bool(stmt.get("multi")))
            n += matched
            modified += changed
            if upserted_id is not None:
                n += 1
                upserted.append({"index": index, "_id": upserted_id})
        except CommandError as exc:
            errors.append(write_error_entry(index, exc))
            if ordered:
                break
    reply = {"n": n, "nModified": modified, "ok": 1.0}
    if upserted:
        reply["upserted"] = upserted
    if errors:
        reply["writeErrors"] = errors
    return reply


def get_more(command):
    cursor_id = int(command["getMore"])
    entry = cursors.get(cursor_id)
    if entry is None:
        return error(43, "CursorNotFound", "cursor id %d not found" % cursor_id)
    ns, docs = entry
    batch, rest = take_batch(docs, command.get("batchSize"))
    if rest:
        cursors[cursor_id] = (ns, rest)
    else:
        cursors.pop(cursor_id, None)
        cursor_id = 0
    return {"cursor": {"id": bson.int64.Int64(cursor_id), "ns": ns, "nextBatch": batch}, "ok": 1.0}


def execute(command, db, sequences):
    try:
        name = next(iter(command))
        lname = name.lower()
        for key, docs in sequences.items():
            command[key] = docs
        if lname != "plantsynccommandlog":
            log_command(db, lname)
        if lname not in DATA_COMMANDS:
            return control_command(name, lname, command)
        with data_lock:
            return data_command(name, lname, command, db)
    except DuplicateKey as exc:
        return error(exc.code, exc.code_name, exc.message)
    except CommandError as exc:
        return error(exc.code, exc.code_name, exc.message)
    except NotImplementedError as exc:
        return error(115, "CommandNotSupported", "not supported by the test double: %s" % exc)
    except Exception as exc:  # mongomock's OperationFailure and friends: report, never crash
        code = getattr(exc, "code", None) or 2
        return error(int(code), "BadValue", "%s: %s" % (type(exc).__name__, exc))


def parse_op_msg(body):
    flags = struct.unpack_from("<I", body, 0)[0]
    pos, end = 4, len(body) - (4 if flags & 1 else 0)
    command, sequences = None, {}
    while pos < end:
        kind = body[pos]
        pos += 1
        if kind == 0:
            size = struct.unpack_from("<i", body, pos)[0]
            command = bson.decode(body[pos:pos + size], CODEC)
            pos += size
        elif kind == 1:
            size = struct.unpack_from("<i", body, pos)[0]
            section_end = pos + size
            name_end = body.index(b"\x00", pos + 4)
            identifier = body[pos + 4:name_end].decode()
            docs, p = [], name_end + 1
            while p < section_end:
                dsize = struct.unpack_from("<i", body, p)[0]
                docs.append(bson.decode(body[p:p + dsize], CODEC))
                p += dsize
            sequences[identifier] = docs
            pos = section_end
        else:
            raise ValueError("unknown OP_MSG section kind %d" % kind)
    return flags, command, sequences


def parse_op_query(body):
    pos = 4
    name_end = body.index(b"\x00", pos)
    full_name = body[pos:name_end].decode()
    pos = name_end + 1 + 8
    size = struct.unpack_from("<i", body, pos)[0]
    query = bson.decode(body[pos:pos + size], CODEC)
    if "$query" in query:
        query = query["$query"]
    return full_name.split(".", 1)[0], query


def message(op_code, response_to, payload):
    header = struct.pack("<iiii", 16 + len(payload), next(request_ids), response_to, op_code)
    return header + payload


def recv_exact(sock, n):
    """Exactly `n` bytes from `sock` (ConnectionError if the peer closes first)."""
    chunks, remaining = [], n
    while remaining:
        chunk = sock.recv(remaining)
        if not chunk:
            raise ConnectionError("closed")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


class Handler(socketserver.BaseRequestHandler):
    def recv_exact(self, n):
        return recv_exact(self.request, n)

    def handle(self):
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                header = self.recv_exact(16)
                length, request_id, _, op_code = struct.unpack("<iiii", header)
                body = self.recv_exact(length - 16)
                if op_code == OP_MSG:
                    flags, command, sequences = parse_op_msg(body)
                    db = command.pop("$db", "admin")
                    reply = execute(command, db, sequences)
                    if flags & 2:  # moreToCome: the client expects no reply
                        continue
                    payload = struct.pack("<I", 0) + b"\x00" + bson.encode(reply, codec_options=CODEC)
                    self.request.sendall(message(OP_MSG, request_id, payload))
                elif op_code == OP_QUERY:
                    db, command = parse_op_query(body)
                    reply = execute(command, db, {})
                    payload = struct.pack("<iqii", 0, 0, 0, 1) + bson.encode(reply, codec_options=CODEC)
                    self.request.sendall(message(OP_REPLY, request_id, payload))
                else:
                    return  # unsupported opcode: drop the connection
        except (ConnectionError, OSError):
            return


class ThreadingServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # the suite opens many connections at once; the default backlog is 5


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file")
    args = parser.parse_args()
    with ThreadingServer((args.host, args.port), Handler) as srv:
        port = srv.server_address[1]
        if args.port_file:
            with open(args.port_file + ".tmp", "w") as f:
                f.write("%d\n" % port)
            import os
            os.replace(args.port_file + ".tmp", args.port_file)
        print("PlantSync MongoDB test double listening on %s:%d" % (args.host, port), file=sys.stderr, flush=True)
        srv.serve_forever()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Helper of scripts/bench-diff (standard library only).

  measure  runs one command with each database link behind its own counting TCP proxy (loopback port
           -> PostgreSQL's unix socket) and writes wall time, bytes per direction and the command's
           output as JSON. "{producer_port}" and "{consumer_port}" in the command are replaced by the
           proxies' ports.
  report   turns the measurements into report.md and report.json (and prints the Markdown).

Bytes are counted as the proxy relays them: everything the client and the server exchange on the
connection (startup, authentication, queries, results), before TCP/IP headers.
"""

import argparse
import asyncio
import ctypes
import json
import os
import resource
import signal
import sys
import time


# ---------------------------------------------------------------------------------------------------
# measure


class Link:
    """One counting proxy: a loopback TCP listener relaying every connection to a unix socket."""

    def __init__(self, name, upstream):
        self.name = name
        self.upstream = upstream
        self.to_server = 0  # client -> PostgreSQL
        self.from_server = 0  # PostgreSQL -> client
        self.connections = 0
        self.tasks = set()
        self.server = None

    async def start(self):
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, limit=1 << 20)
        return self.server.sockets[0].getsockname()[1]

    async def _pump(self, reader, writer, direction):
        try:
            while True:
                chunk = await reader.read(1 << 18)
                if not chunk:
                    break
                if direction == "to_server":
                    self.to_server += len(chunk)
                else:
                    self.from_server += len(chunk)
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            try:
                if writer.can_write_eof():
                    writer.write_eof()
            except (ConnectionError, OSError, RuntimeError):
                pass

    async def _serve(self, client_reader, client_writer):
        self.connections += 1
        task = asyncio.current_task()
        self.tasks.add(task)
        try:
            server_reader, server_writer = await asyncio.open_unix_connection(self.upstream, limit=1 << 20)
        except OSError:
            client_writer.close()
            self.tasks.discard(task)
            return
        try:
            await asyncio.gather(
                self._pump(client_reader, server_writer, "to_server"),
                self._pump(server_reader, client_writer, "from_server"),
            )
        finally:
            for w in (client_writer, server_writer):
                try:
                    w.close()
                except (ConnectionError, OSError, RuntimeError):
                    pass
            self.tasks.discard(task)

    async def stop(self):
        self.server.close()
        # Let connections the command left open drain briefly, then count what they relayed.
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=2)

    def counts(self):
        return {
            "bytes_to_server": self.to_server,
            "bytes_from_server": self.from_server,
            "bytes": self.to_server + self.from_server,
            "connections": self.connections,
        }


def _display(text, ports):
    if not text:
        return None
    for token, port in ports.items():
        text = text.replace("{" + token + "}", str(port))
    return text


def _die_with_parent():
    """Runs in the child before exec: it gets SIGTERM if this helper dies, whatever kills it."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


async def _measure(args):
    producer = Link("producer", args.producer_socket)
    consumer = Link("consumer", args.consumer_socket)
    ports = {"producer_port": await producer.start(), "consumer_port": await consumer.start()}
    command = list(args.command)
    for token, port in ports.items():
        command = [part.replace("{" + token + "}", str(port)) for part in command]
    stdout_path = args.out + ".stdout"
    stderr_path = args.out + ".stderr"
    load_before = os.getloadavg()[0]
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        start = time.monotonic()
        # A wide "terminal" for rich (reladiff's output), which otherwise wraps its JSON at 80 columns.
        env = dict(os.environ, COLUMNS="100000")
        child = await asyncio.create_subprocess_exec(
            *command, stdout=out, stderr=err, env=env, preexec_fn=_die_with_parent
        )
        loop = asyncio.get_running_loop()
        stopping = []

        def stop(signum):
            stopping.append(signum)
            if child.returncode is None:
                child.terminate()

        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.add_signal_handler(signum, stop, signum)
        code = await child.wait()
        wall = time.monotonic() - start
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    await producer.stop()
    await consumer.stop()
    if stopping:
        return 128 + stopping[0]
    result = {
        "name": args.name,
        "command": command,
        "display_command": _display(args.display, ports),
        "exit_code": code,
        "wall_seconds": round(wall, 3),
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "client_cpu_seconds": round(cpu, 3),
        # ru_maxrss of the children: the measured command's peak resident set (kB on Linux).
        "client_peak_rss_mb": round(cpu_after.ru_maxrss / 1024, 1),
        "producer": producer.counts(),
        "consumer": consumer.counts(),
        "stdout": open(stdout_path, encoding="utf-8", errors="replace").read(),
        "stderr_tail": open(stderr_path, encoding="utf-8", errors="replace").read()[-4000:],
    }
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    if code != 0:
        sys.stderr.write(f"error: {args.name} exited {code}:\n{result['stderr_tail']}\n")
        return 1
    if args.expect_json and not any(line.lstrip().startswith("{") for line in result["stdout"].splitlines()):
        # reladiff logs an error and exits 0 when its diff fails.
        sys.stderr.write(f"error: {args.name} printed no JSON report:\n{result['stderr_tail']}\n")
        return 1
    return 0


# ---------------------------------------------------------------------------------------------------
# report


def _last_json_line(text):
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError("no JSON line in output:\n" + text[-2000:])


def _differences(m):
    """The differences a measured tool reports, with the parts they are made of."""
    kind = m["kind"]
    if kind == "count":
        counts = [int(x) for x in m["stdout"].split()]
        producer, consumer = counts[0], counts[1]
        return abs(producer - consumer), {"producer_rows": producer, "consumer_rows": consumer}
    if kind in ("merkle", "reconcile"):
        r = _last_json_line(m["stdout"])
        keep = ("differences", "ranges_compared", "cells_compared", "peel_failures", "rows_compared", "rows_fetched",
                "duration_seconds", "digest_domain")
        return r["differences"], {k: r[k] for k in keep if k in r} | {"producer_payload": r.get("producer"), "consumer_payload": r.get("consumer")}
    if kind == "reladiff":
        s = _last_json_line(m["stdout"])
        found = int(s.get("exclusive_A", 0)) + int(s.get("exclusive_B", 0)) + int(s.get("updated", 0))
        return found, s
    raise ValueError(kind)


def _size(n):
    """Bytes in SI units: 1 kB = 10³ B, 1 MB = 10⁶ B."""
    if n < 10_000:
        return f"{n:,} B"
    if n < 1_000_000:
        return f"{n / 1e3:,.1f} kB"
    if n < 1_000_000_000:
        return f"{n / 1e6:,.1f} MB"
    return f"{n / 1e9:,.2f} GB"


def _ratio(a, b):
    if not b:
        return "—"
    r = a / b
    return f"{r:,.0f}×" if r >= 100 else f"{r:,.1f}×" if r >= 10 else f"{r:,.2f}×"


def _report(args):
    setup = json.load(open(args.setup))
    rows = []
    for spec in args.measurements:
        kind, label, path = spec.split(":", 2)
        m = json.load(open(path))
        m["kind"] = kind
        m["label"] = label
        m["differences"], m["details"] = _differences(m)
        m["bytes"] = m["producer"]["bytes"] + m["consumer"]["bytes"]
        rows.append(m)
    floor = next(m for m in rows if m["kind"] == "count")
    merkle = next((m for m in rows if m["kind"] == "merkle"), None)
    expected = setup["changes"]["expected_differences"]

    lines = []
    lines.append(f"## Diff benchmark: {setup['rows']:,} rows × {setup['bytes']:,} B, {setup['changed_percent']} % changed")
    lines.append("")
    ch = setup["changes"]
    lines.append(
        f"One throwaway PostgreSQL {setup.get('postgres_version', '')} (durable settings). Producer: LIMS's table "
        f"`public.imagecolplantpotato` in database `producer`; consumer: PlantSync's store `plantsync.image_record` "
        f"(plant `potato`) in database `consumer`, filled by one BatchSync `--strategy full` run. Then "
        f"{ch['updated']:,} updates, {ch['inserted']:,} inserts and {ch['deleted']:,} deletes in the producer: "
        f"**{expected:,} differences**. Bytes are counted by a proxy per link, each direction (what client and "
        "server exchange, without TCP/IP headers; kB, MB, GB are powers of 10)."
    )
    lines.append("")
    lines.append(
        "| tool | wall s | client CPU s | client peak RSS MB | producer link: sent / received | consumer link: sent / received | total bytes "
        "| differences found | bytes ÷ count(*) | wall ÷ count(*) |"
    )
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for m in rows:
        p, c = m["producer"], m["consumer"]
        found = f"{m['differences']:,}"
        if m["kind"] == "count":
            found += f" (rows {m['details']['producer_rows']:,} / {m['details']['consumer_rows']:,})"
        lines.append(
            f"| {m['label']} | {m['wall_seconds']:.2f} | {m.get('client_cpu_seconds', 0):.2f} | {m.get('client_peak_rss_mb', 0):.0f} "
            f"| {_size(p['bytes_to_server'])} / {_size(p['bytes_from_server'])} "
            f"| {_size(c['bytes_to_server'])} / {_size(c['bytes_from_server'])} "
            f"| {_size(m['bytes'])} | {found} | {_ratio(m['bytes'], floor['bytes'])} "
            f"| {_ratio(m['wall_seconds'], floor['wall_seconds'])} |"
        )
    lines.append("")
    if merkle:
        lines.append("Against BatchSync merkle:")
        lines.append("")
        lines.append("| tool | bytes ÷ merkle | wall ÷ merkle |")
        lines.append("|---|---:|---:|")
        for m in rows:
            if m is merkle or m["kind"] == "count":
                continue
            lines.append(f"| {m['label']} | {_ratio(m['bytes'], merkle['bytes'])} | {_ratio(m['wall_seconds'], merkle['wall_seconds'])} |")
        lines.append("")
    lines.append("Notes:")
    lines.append("")
    lines.append(
        "- Sent: client → PostgreSQL; received: PostgreSQL → client. \"differences found\" for count(*) is the difference of "
        "the two counts. Client CPU: user + system seconds of the tool's processes (not PostgreSQL's)."
    )
    for note in setup.get("notes", []):
        lines.append(f"- {note}")
    for m in rows:
        if m["kind"] == "reladiff":
            d = m["details"]
            lines.append(
                f"- {m['label']}: columns `{', '.join(m.get('columns', []) or setup.get('columns', {}).get(m['label'], []))}`; "
                f"updated {d.get('updated', 0):,}, only in producer {d.get('exclusive_A', 0):,}, only in consumer {d.get('exclusive_B', 0):,}; "
                f"rows downloaded {d.get('stats', {}).get('rows_downloaded', 0):,}."
            )
        if m["kind"] == "merkle":
            d = m["details"]
            lines.append(
                f"- {m['label']}: {d.get('ranges_compared', 0):,} ranges and {d.get('rows_compared', 0):,} per-key versions compared, "
                f"digest domain `{d.get('digest_domain', '?')}`."
            )
        if m["kind"] == "reconcile":
            d = m["details"]
            lines.append(
                f"- {m['label']}: {d.get('cells_compared', 0):,} IBLT cells read, {d.get('peel_failures', 0)} peeling failures, "
                f"{d.get('rows_compared', 0):,} per-key versions verified, digest domain `{d.get('digest_domain', '?')}`."
            )
        if m["differences"] != expected and m["kind"] != "count":
            lines.append(f"- **{m['label']} found {m['differences']:,} differences, {expected:,} were made.**")
    loads = ", ".join(f"{m['label']} {m['load_average_1min'][0]:.2f} → {m['load_average_1min'][1]:.2f}" for m in rows if m.get("load_average_1min"))
    lines.append(f"- Machine load (1-minute load average before → after each; {os.cpu_count()} cores, shared with other work): {loads}.")
    lines.append("")
    lines.append("Commands (ports are the counting proxies'):")
    lines.append("")
    for m in rows:
        shown = m.get("display_command") or " ".join(_quote(a) for a in [os.path.basename(m["command"][0])] + m["command"][1:])
        lines.append(f"- {m['label']}: `{shown}`")
    lines.append("")
    markdown = "\n".join(lines)

    os.makedirs(args.out_dir, exist_ok=True)
    with open(os.path.join(args.out_dir, "report.md"), "w") as f:
        f.write(markdown)
    report = {
        "setup": setup,
        "measurements": [
            {k: m.get(k) for k in ("label", "kind", "command", "display_command", "wall_seconds", "client_cpu_seconds", "client_peak_rss_mb", "load_average_1min", "producer", "consumer", "bytes", "differences", "details")}
            | {
                "bytes_vs_count": m["bytes"] / floor["bytes"] if floor["bytes"] else None,
                "wall_vs_count": m["wall_seconds"] / floor["wall_seconds"] if floor["wall_seconds"] else None,
                "bytes_vs_merkle": m["bytes"] / merkle["bytes"] if merkle and merkle["bytes"] else None,
                "wall_vs_merkle": m["wall_seconds"] / merkle["wall_seconds"] if merkle and merkle["wall_seconds"] else None,
            }
            for m in rows
        ],
    }
    with open(os.path.join(args.out_dir, "report.json"), "w") as f:
        json.dump(report, f, indent=2)
    print(markdown)
    return 0


def _quote(arg):
    if arg and all(ch.isalnum() or ch in "-_./:=,@%+" for ch in arg):
        return arg
    return "'" + arg.replace("'", "'\\''") + "'"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure")
    m.add_argument("--name", required=True)
    m.add_argument("--producer-socket", required=True, help="PostgreSQL unix socket behind the producer proxy")
    m.add_argument("--consumer-socket", required=True, help="PostgreSQL unix socket behind the consumer proxy")
    m.add_argument("--out", required=True, help="JSON file to write")
    m.add_argument("--expect-json", action="store_true", help="fail unless the command prints a JSON line")
    m.add_argument("--display", help="how the report shows the command (default: the command itself)")
    m.add_argument("command", nargs=argparse.REMAINDER)
    r = sub.add_parser("report")
    r.add_argument("--setup", required=True, help="setup JSON written by scripts/bench-diff")
    r.add_argument("--out-dir", required=True)
    r.add_argument("measurements", nargs="+", help="KIND:LABEL:FILE, KIND one of count, merkle, reconcile, reladiff")
    args = parser.parse_args()
    if args.cmd == "measure":
        if args.command and args.command[0] == "--":
            args.command = args.command[1:]
        if not args.command:
            parser.error("measure needs a command after --")
        return asyncio.run(_measure(args))
    return _report(args)


if __name__ == "__main__":
    sys.exit(main())

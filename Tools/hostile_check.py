#!/usr/bin/env python3
"""Hostile clients against `smm serve`, while well-behaved clients keep running.

Phases (in order; --phases picks some):
  baseline    the well-behaved clients alone: their unloaded p50/p99
  slowloris   N connections dribble a request head one byte a second
  slowbody    N connections send a head, then dribble the body one byte a second
  idle        N connections open and send nothing
  garbage     N connections send bytes that are not HTTP (random, TLS hello, bad request line, ...),
              a round a second for --min-phase-s
  bigbody     a 1 GiB body with Content-Length, then one chunked, repeated for --min-phase-s
  manyinputs  R requests of K tiny inputs each, from C concurrent keep-alive connections
  healthflood (not in the default list) the same flood of GET /health: the cost of any flood of
              cheap requests, to compare manyinputs with

The well-behaved clients (--clients, default 4) run in a process of their own for the whole run,
each POSTing one small sentence to /embed in a closed loop on a keep-alive connection. For every
phase the script prints their p50/p99 during the attack and its ratio to the unloaded p99 (of the
first baseline, and of a --quiet-s window of well-behaved clients alone just before the attack;
--bar quiet compares with the latter, for a machine where other work changes over minutes), the
attack's outcome, the server's open descriptors (/proc/PID/fd) and RSS (/proc/PID/status VmRSS)
before, at the peak and after the phase, and whether the process is still up. Exit 1 if a bar fails:
the process died, a p99 ratio is over --max-p99-ratio, a well-behaved request failed, descriptors
or RSS are not back near the baseline after a phase, or an attack got an answer it should not have.

Against a running server (its pid is found from the listening port, or give --pid):
    python3 Tools/hostile_check.py --port 8080
Or let the script start one (and SIGTERM it at the end):
    python3 Tools/hostile_check.py --binary .build/release/smm --model /path/to/all-MiniLM-L6-v2 \
        [--serve-arg=--max-connections=1000 ...]

Stdlib only. Traffic goes to --host only (127.0.0.1 by default); every loop is bounded in count
and time.
"""
import argparse
import asyncio
import http.client
import json
import multiprocessing
import os
import random
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

SENTENCES = [
    "Stocks edge higher as investors await inflation data",
    "Bond yields fall after the central bank holds rates",
    "Oil climbs on supply worries in the Middle East",
    "Shares plunge after a profit warning from the retailer",
    "The company beat analyst expectations for the quarter",
    "Tech stocks lead a broad market rally",
    "The currency weakens against the dollar",
    "Gold steadies near a record high",
]


# ----------------------------------------------------------------------------- server process

def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def pid_listening_on(port):
    """The pid of the process with a listening TCP socket on `port` (via /proc/net/tcp{,6})."""
    inodes = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    local, state, inode = parts[1], parts[3], parts[9]
                    if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                        inodes.add(inode)
        except OSError:
            pass
    if not inodes:
        return None
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    return int(pid)
        except OSError:
            continue
    return None


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def rss_mib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return -1.0


class Sampler(threading.Thread):
    """Samples the server's descriptors and RSS every `period` seconds."""

    def __init__(self, pid, period=0.2):
        super().__init__(daemon=True)
        self.pid, self.period = pid, period
        self.samples = []  # (monotonic, fds, rss MiB)
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            s = (time.monotonic(), fds(self.pid), rss_mib(self.pid))
            with self.lock:
                self.samples.append(s)
            self.stop.wait(self.period)

    def window(self, t0, t1):
        with self.lock:
            return [s for s in self.samples if t0 <= s[0] <= t1]


def cpu_s(pid):
    """User + system CPU seconds the process has used."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def machine_busy_s():
    """CPU seconds every process on the machine has used (all CPUs, from /proc/stat)."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return (v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


def health(host, port, timeout=5.0):
    try:
        c = http.client.HTTPConnection(host, port, timeout=timeout)
        c.request("GET", "/health")
        r = c.getresponse()
        r.read()
        c.close()
        return r.status == 200
    except (OSError, http.client.HTTPException):
        return False


# ----------------------------------------------------------------------------- well-behaved load

def well_behaved_main(host, port, clients, stop_at, out_path, go, think_s):
    """Child process: `clients` threads in closed loop until `stop_at` (monotonic) or `go` clears.
    Writes one JSON line per request to out_path: [t_end, latency_s, status]."""
    raise_nofile()
    results = []
    lock = threading.Lock()

    def client(i):
        conn = None
        n = i
        local = []
        while go.is_set() and time.monotonic() < stop_at:
            body = json.dumps({"inputs": SENTENCES[n % len(SENTENCES)]})
            n += 1
            t0 = time.monotonic()
            status = 0
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(host, port, timeout=30)
                conn.request("POST", "/embed", body, {"content-type": "application/json"})
                r = conn.getresponse()
                r.read()
                status = r.status
                if (r.getheader("connection") or "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException):
                status = -1
                try:
                    conn.close()
                except Exception:
                    pass
                conn = None
                time.sleep(0.05)
            t1 = time.monotonic()
            local.append((t1, t1 - t0, status))
            if think_s > 0:
                time.sleep(think_s)
        with lock:
            results.extend(local)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with open(out_path, "w") as f:
        for r in results:
            f.write(json.dumps(r) + "\n")


def percentile(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(p / 100 * len(v) + 0.5)) - 1))
    return v[k]


# ----------------------------------------------------------------------------- attacks

async def read_response(reader, timeout):
    """One HTTP/1.1 response: (status, headers dict, body bytes). Raises on EOF or timeout."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    body = b""
    if "content-length" in headers:
        body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), timeout)
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await asyncio.wait_for(reader.readuntil(b"\r\n"), timeout)).strip(), 16)
            chunk = await asyncio.wait_for(reader.readexactly(size + 2), timeout)
            body += chunk[:-2]
            if size == 0:
                break
    return status, headers, body


async def wait_closed_by_server(reader, deadline):
    """Reads (and drops) until the server closes; returns the monotonic time of the close or None."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        try:
            data = await asyncio.wait_for(reader.read(65536), left)
        except asyncio.TimeoutError:
            return None
        except (ConnectionError, OSError):
            return time.monotonic()
        if not data:
            return time.monotonic()


async def slowloris(host, port, n, max_s, body=False):
    """n connections dribbling one byte a second (the head, or with body=True a complete head then
    the body); returns how long the server took to close each."""
    if body:
        head = (f"POST /embed HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                f"Content-Length: 100000\r\n\r\n").encode()
        drip = b'{"inputs":"' + b"a" * 100000
    else:
        head = b""
        drip = (f"POST /embed HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                + "".join(f"X-Slow-{i}: {'b' * 40}\r\n" for i in range(200))).encode()
    outcome = {"opened": 0, "connect_failed": 0, "closed_by_server": 0, "still_open": 0, "answers": {}}
    closed_after = []

    async def one(i):
        await asyncio.sleep(i * 0.005)
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
        except (OSError, asyncio.TimeoutError):
            outcome["connect_failed"] += 1
            return
        outcome["opened"] += 1
        t0 = time.monotonic()
        deadline = t0 + max_s
        closed = asyncio.ensure_future(read_until_close(reader, deadline, outcome))
        try:
            if head:
                writer.write(head)
                await writer.drain()
            for b in drip:
                if closed.done() or time.monotonic() >= deadline:
                    break
                writer.write(bytes([b]))
                await writer.drain()
                try:
                    await asyncio.wait_for(asyncio.shield(closed), 1.0)
                except asyncio.TimeoutError:
                    pass
        except (ConnectionError, OSError):
            pass
        t = await closed
        if t is None:
            outcome["still_open"] += 1
        else:
            outcome["closed_by_server"] += 1
            closed_after.append(t - t0)
        writer.close()

    await asyncio.gather(*(one(i) for i in range(n)))
    if closed_after:
        outcome["close_s_min"] = round(min(closed_after), 2)
        outcome["close_s_median"] = round(statistics.median(closed_after), 2)
        outcome["close_s_max"] = round(max(closed_after), 2)
    return outcome


async def read_until_close(reader, deadline, outcome):
    """Like wait_closed_by_server, but counts an HTTP answer if the server sends one."""
    buf = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        try:
            data = await asyncio.wait_for(reader.read(65536), left)
        except asyncio.TimeoutError:
            return None
        except (ConnectionError, OSError):
            data = b""
        if not data:
            if buf.startswith(b"HTTP/1.1 "):
                code = buf[9:12].decode("latin-1", "replace")
                outcome["answers"][code] = outcome["answers"].get(code, 0) + 1
            return time.monotonic()
        buf += data[:4096]


async def idle(host, port, n, max_s):
    """n connections that send nothing; returns when the server closed them (or max_s)."""
    outcome = {"opened": 0, "connect_failed": 0, "closed_by_server": 0, "still_open": 0}
    closed_after = []
    writers = []

    async def one(i):
        await asyncio.sleep(i * 0.001)
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
        except (OSError, asyncio.TimeoutError):
            outcome["connect_failed"] += 1
            return
        outcome["opened"] += 1
        writers.append(writer)
        t0 = time.monotonic()
        t = await wait_closed_by_server(reader, t0 + max_s)
        if t is None:
            outcome["still_open"] += 1
        else:
            outcome["closed_by_server"] += 1
            closed_after.append(t - t0)

    await asyncio.gather(*(one(i) for i in range(n)))
    for w in writers:
        w.close()
    if closed_after:
        outcome["close_s_min"] = round(min(closed_after), 2)
        outcome["close_s_median"] = round(statistics.median(closed_after), 2)
        outcome["close_s_max"] = round(max(closed_after), 2)
    return outcome


GARBAGE_KINDS = ["random", "tls_hello", "bad_request_line", "binary_header", "huge_header", "after_valid",
                 "bad_chunked", "negative_length"]


def garbage_bytes(kind, rng, host):
    if kind == "random":
        return bytes(rng.getrandbits(8) for _ in range(4096))
    if kind == "tls_hello":
        return bytes.fromhex("16030100a5010000a10303") + bytes(rng.getrandbits(8) for _ in range(160))
    if kind == "bad_request_line":
        return b"GET / HTTP/9.9 what\r\n\r\n"
    if kind == "binary_header":
        return b"GET /health HTTP/1.1\r\nHost: x\r\nX-Bin: \x00\x01\x02\xff\r\n\r\n"
    if kind == "huge_header":
        return b"GET /health HTTP/1.1\r\nHost: x\r\nX-Huge: " + b"h" * 200_000 + b"\r\n\r\n"
    if kind == "after_valid":
        return (f"GET /health HTTP/1.1\r\nHost: {host}\r\n\r\n").encode() + b"\x00\xffNOT HTTP AT ALL\r\n\r\n"
    if kind == "bad_chunked":
        return (b"POST /embed HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n"
                b"zz\r\n{}\r\n0\r\n\r\n")
    if kind == "negative_length":
        return b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n{}"
    raise ValueError(kind)


async def garbage(host, port, n, max_s):
    """n connections sending non-HTTP bytes; each should get a 400 and/or a close, never a hang."""
    rng = random.Random(7)
    outcome = {"connect_failed": 0, "closed": 0, "still_open": 0, "answers": {}}
    by_kind = {}

    async def one(i):
        kind = GARBAGE_KINDS[i % len(GARBAGE_KINDS)]
        payload = garbage_bytes(kind, rng, host)
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
        except (OSError, asyncio.TimeoutError):
            outcome["connect_failed"] += 1
            return
        t0 = time.monotonic()
        try:
            writer.write(payload)
            await writer.drain()
        except (ConnectionError, OSError):
            pass
        statuses = []
        buf = b""
        end = t0 + max_s
        closed = False
        while time.monotonic() < end:
            try:
                data = await asyncio.wait_for(reader.read(65536), end - time.monotonic())
            except asyncio.TimeoutError:
                break
            except (ConnectionError, OSError):
                closed = True
                break
            if not data:
                closed = True
                break
            buf += data
        for part in buf.split(b"HTTP/1.1 ")[1:]:
            statuses.append(part[:3].decode("latin-1", "replace"))
        for s in statuses:
            outcome["answers"][s] = outcome["answers"].get(s, 0) + 1
        outcome["closed" if closed else "still_open"] += 1
        k = by_kind.setdefault(kind, {"closed": 0, "open": 0, "answers": set()})
        k["closed" if closed else "open"] += 1
        k["answers"].update(statuses)
        writer.close()

    await asyncio.gather(*(one(i) for i in range(n)))
    outcome["by_kind"] = {k: f"{v['closed']} closed/{v['open']} open, answers {sorted(v['answers'])}"
                          for k, v in sorted(by_kind.items())}
    return outcome


async def bigbody(host, port, size, chunked, max_s):
    """One request with a `size`-byte body (Content-Length or chunked), sent while the answer is read."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
    if chunked:
        head = (f"POST /embed HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                f"Transfer-Encoding: chunked\r\n\r\n").encode()
    else:
        head = (f"POST /embed HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {size}\r\n\r\n").encode()
    piece = b'{"inputs":"' + b"a" * (65536 - 11)
    filler = b"a" * 65536
    t0 = time.monotonic()
    sent = 0
    answer = asyncio.ensure_future(read_response(reader, max_s))
    error = None
    try:
        writer.write(head)
        while sent < size and not answer.done() and time.monotonic() - t0 < max_s:
            data = piece if sent == 0 else filler
            data = data[: size - sent]
            writer.write(b"%x\r\n" % len(data) + data + b"\r\n" if chunked else data)
            sent += len(data)
            await writer.drain()
            await asyncio.sleep(0)  # let the answer's reader run (drain does not yield while the buffer has room)
        if chunked and sent >= size and not answer.done():
            writer.write(b"0\r\n\r\n")
            await writer.drain()
    except (ConnectionError, OSError) as e:
        error = type(e).__name__
    status = None
    try:
        status, headers, body = await asyncio.wait_for(answer, max(1.0, max_s - (time.monotonic() - t0)))
    except (asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError, OSError, ValueError) as e:
        error = error or type(e).__name__
    closed = await wait_closed_by_server(reader, time.monotonic() + 10)
    writer.close()
    return {"mode": "chunked" if chunked else "content-length", "status": status,
            "sent_mib": round(sent / 2**20, 1), "answer_s": round(time.monotonic() - t0, 2),
            "server_closed": closed is not None, "client_error": error}


async def manyinputs(host, port, requests, inputs, concurrency, max_s, control=False):
    """`requests` requests of `inputs` tiny inputs each from `concurrency` keep-alive connections
    (control=True: the same flood of GET /health, what any flood of cheap requests costs)."""
    words = [f"w{i}" for i in range(inputs)]
    bodies = [("/embed", json.dumps({"inputs": words}).encode()),
              ("/v1/embeddings", json.dumps({"input": words, "model": "all-MiniLM-L6-v2"}).encode())]
    if control:
        bodies = [("/health", None), ("/health", None)]
    counts = {}
    errors = {}
    next_i = [0]
    t0 = time.monotonic()

    async def conn_loop():
        reader = writer = None
        while next_i[0] < requests and time.monotonic() - t0 < max_s:
            i = next_i[0]
            next_i[0] += 1
            path, body = bodies[i % 2]
            try:
                if writer is None:
                    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
                if body is None:
                    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
                else:
                    writer.write((f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                                  f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
                await writer.drain()
                status, headers, _ = await read_response(reader, 60)
                counts[status] = counts.get(status, 0) + 1
                if headers.get("connection", "").lower() == "close":
                    writer.close()
                    writer = None
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError) as e:
                errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
                if writer is not None:
                    writer.close()
                writer = None
                await asyncio.sleep(0.05)
        if writer is not None:
            writer.close()

    await asyncio.gather(*(conn_loop() for _ in range(concurrency)))
    elapsed = time.monotonic() - t0
    return {"sent": next_i[0], "statuses": {str(k): v for k, v in sorted(counts.items())}, "errors": errors,
            "seconds": round(elapsed, 1), "per_s": round(next_i[0] / elapsed, 1)}


# ----------------------------------------------------------------------------- driver

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="the server's port (with --binary: 0 picks a free one)")
    ap.add_argument("--pid", type=int, help="the server's pid (default: found from the listening port)")
    ap.add_argument("--binary", help="start this smm binary (`smm serve`) instead of using a running server")
    ap.add_argument("--model", help="with --binary: the -m model")
    ap.add_argument("--serve-arg", action="append", default=[], help="with --binary: one more serve argument")
    ap.add_argument("--phases", default="baseline,slowloris,slowbody,idle,garbage,bigbody,manyinputs")
    ap.add_argument("--clients", type=int, default=4, help="well-behaved clients")
    ap.add_argument("--think-ms", type=float, default=0,
                    help="pause of each well-behaved client between its requests (0: closed loop)")
    ap.add_argument("--attacker-nice", type=int, default=0,
                    help="nice the attacking process by this much (it shares the server's CPUs here)")
    ap.add_argument("--baseline-s", type=float, default=10)
    ap.add_argument("--quiet-s", type=float, default=5,
                    help="well-behaved clients alone for this long before each attack (its p99 is printed too)")
    ap.add_argument("--bar", choices=["baseline", "quiet"], default="baseline",
                    help="the p99 bar compares with the first baseline (default) or with the quiet window "
                         "just before each attack (for a machine that others share)")
    ap.add_argument("--slowloris", type=int, default=200, help="slow-loris connections")
    ap.add_argument("--slowloris-max-s", type=float, default=60, help="give up waiting for the server's close after this")
    ap.add_argument("--idle", type=int, default=2000, help="idle connections")
    ap.add_argument("--idle-max-s", type=float, default=100, help="give up waiting for the server's close after this")
    ap.add_argument("--garbage", type=int, default=200, help="garbage connections")
    ap.add_argument("--big-bytes", type=int, default=1 << 30)
    ap.add_argument("--requests", type=int, default=10000, help="manyinputs: requests")
    ap.add_argument("--inputs", type=int, default=1000, help="manyinputs: inputs per request")
    ap.add_argument("--concurrency", type=int, default=32, help="manyinputs: connections")
    ap.add_argument("--min-phase-s", type=float, default=10,
                    help="short attacks (garbage, bigbody) are repeated for at least this long")
    ap.add_argument("--min-samples", type=int, default=50,
                    help="the p99 bar needs at least this many well-behaved answers in a phase")
    ap.add_argument("--settle-s", type=float, default=15, help="longest wait after a phase for fds/RSS to come back")
    ap.add_argument("--max-p99-ratio", type=float, default=2.0)
    ap.add_argument("--fd-slack", type=int, default=16, help="descriptors over the baseline allowed after a phase")
    ap.add_argument("--rss-slack-mib", type=float, default=64, help="RSS over the baseline allowed after a phase")
    ap.add_argument("--rss-peak-mib", type=float, default=512, help="RSS over the baseline allowed during a phase")
    ap.add_argument("--json", help="also write the figures here as JSON")
    args = ap.parse_args()

    nofile = raise_nofile()
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    proc = None
    log = None
    if args.binary:
        if not args.model:
            ap.error("--binary needs --model")
        if args.port == 0:
            s = socket.socket()
            s.bind((args.host, 0))
            args.port = s.getsockname()[1]
            s.close()
        log = tempfile.NamedTemporaryFile(prefix="hostile-serve-", suffix=".log", delete=False)
        cmd = [args.binary, "serve", "-m", args.model, "--host", args.host, "--port", str(args.port)] + args.serve_arg
        print("starting:", " ".join(cmd), f"(log {log.name})", flush=True)
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        args.pid = proc.pid
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                c = http.client.HTTPConnection(args.host, args.port, timeout=2)
                c.request("GET", "/ready")
                r = c.getresponse()
                r.read()
                if r.status == 200:
                    break
            except (OSError, http.client.HTTPException):
                pass
            if proc.poll() is not None:
                sys.exit(f"smm serve exited with {proc.returncode}; see {log.name}")
            time.sleep(0.2)
        else:
            sys.exit("smm serve did not become ready in 120 s")
    if not args.port:
        ap.error("--port is required")
    pid = args.pid or pid_listening_on(args.port)
    if not pid:
        sys.exit(f"no process listens on port {args.port} (give --pid)")
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    print(f"server pid {pid} on {args.host}:{args.port}; client RLIMIT_NOFILE {nofile}; "
          f"{os.cpu_count()} CPUs ({cpu})", flush=True)

    sampler = Sampler(pid)
    sampler.start()

    # The well-behaved clients: a process of their own (so the attacks' Python does not hold their GIL).
    out_path = tempfile.mktemp(prefix="hostile-wb-", suffix=".jsonl")
    go = multiprocessing.Event()
    go.set()
    wb = multiprocessing.Process(target=well_behaved_main,
                                 args=(args.host, args.port, args.clients, time.monotonic() + 3600, out_path, go,
                                       args.think_ms / 1000))
    wb.start()
    if args.attacker_nice:
        os.nice(args.attacker_nice)  # this process only: the well-behaved clients' process keeps its priority
    time.sleep(3.0)  # warm-up: connections open, the weights paged in, first batches done
    base_fds, base_rss = fds(pid), rss_mib(pid)

    windows = []  # (phase, t0, t1, outcome)
    results = []
    failures = []

    def settle(before_fds, before_rss):
        """Waits (at most --settle-s) for fds and RSS to come back near `before`; returns them."""
        end = time.monotonic() + args.settle_s
        while True:
            f, r = fds(pid), rss_mib(pid)
            if (f <= before_fds + args.fd_slack and r <= before_rss + args.rss_slack_mib) or time.monotonic() > end:
                return f, r
            time.sleep(0.5)

    quiet = {}  # phase -> (t0, t1) of the quiet window just before it
    for phase in phases:
        if phase != "baseline" and args.quiet_s > 0:
            # The well-behaved clients alone again, right before the attack: the machine may be
            # shared, and what else runs on it changes over minutes.
            q0 = time.monotonic()
            time.sleep(args.quiet_s)
            quiet[phase] = (q0, time.monotonic())
        before_fds, before_rss = fds(pid), rss_mib(pid)
        print(f"== {phase}", flush=True)
        t0 = time.monotonic()
        cpu0, own0, all0, wb0 = cpu_s(pid), sum(os.times()[:2]), machine_busy_s(), cpu_s(wb.pid)
        if phase == "baseline":
            time.sleep(args.baseline_s)
            outcome = {}
        elif phase == "slowloris":
            outcome = asyncio.run(slowloris(args.host, args.port, args.slowloris, args.slowloris_max_s))
        elif phase == "slowbody":
            outcome = asyncio.run(slowloris(args.host, args.port, args.slowloris, args.slowloris_max_s, body=True))
        elif phase == "idle":
            outcome = asyncio.run(idle(args.host, args.port, args.idle, args.idle_max_s))
        elif phase == "garbage":
            # Rounds of N connections until --min-phase-s, so that the well-behaved figures mean something.
            outcome = None
            while outcome is None or time.monotonic() - t0 < args.min_phase_s:
                r0 = time.monotonic()
                outcome = merge(outcome, asyncio.run(garbage(args.host, args.port, args.garbage, 15)))
                time.sleep(max(0.0, 1.0 - (time.monotonic() - r0)))  # one round of N connections a second
        elif phase == "bigbody":
            runs = {"content_length": [], "chunked": []}
            while not runs["chunked"] or time.monotonic() - t0 < args.min_phase_s:
                runs["content_length"].append(asyncio.run(bigbody(args.host, args.port, args.big_bytes, False, 120)))
                runs["chunked"].append(asyncio.run(bigbody(args.host, args.port, args.big_bytes, True, 120)))
            outcome = {k: summarize_bigbody(v) for k, v in runs.items()}
        elif phase == "manyinputs":
            outcome = asyncio.run(manyinputs(args.host, args.port, args.requests, args.inputs, args.concurrency, 900))
        elif phase == "healthflood":
            outcome = asyncio.run(manyinputs(args.host, args.port, args.requests, 0, args.concurrency, 900, control=True))
        else:
            sys.exit(f"unknown phase {phase}")
        t1 = time.monotonic()
        server_cpu, attacker_cpu = cpu_s(pid) - cpu0, sum(os.times()[:2]) - own0
        wb_cpu = cpu_s(wb.pid) - wb0
        # What else ran on the machine meanwhile (other users' builds): it competes with the server.
        other_cpu = max(0.0, machine_busy_s() - all0 - server_cpu - attacker_cpu - wb_cpu)
        during = sampler.window(t0, t1)
        peak_fds = max([s[1] for s in during] + [before_fds])
        peak_rss = max([s[2] for s in during] + [before_rss])
        after_fds, after_rss = settle(base_fds, base_rss)
        up = alive(pid) and health(args.host, args.port)
        windows.append((phase, t0, t1))
        results.append({"phase": phase, "seconds": round(t1 - t0, 1), "outcome": outcome,
                        "fds": [before_fds, peak_fds, after_fds], "rss_mib": [round(before_rss, 1), round(peak_rss, 1),
                                                                               round(after_rss, 1)], "up": up,
                        "server_cpu_s": round(server_cpu, 2), "attacker_cpu_s": round(attacker_cpu, 2),
                        "well_behaved_cpu_s": round(wb_cpu, 2), "other_cpu_s": round(other_cpu, 2)})
        print(f"   {json.dumps(outcome)}", flush=True)
        print(f"   fds {before_fds} -> peak {peak_fds} -> after {after_fds}; RSS {before_rss:.0f} -> peak "
              f"{peak_rss:.0f} -> after {after_rss:.0f} MiB; up {up}; CPU s: server {server_cpu:.1f}, "
              f"attacking client {attacker_cpu:.1f}, well-behaved clients {wb_cpu:.1f}, "
              f"other processes {other_cpu:.1f}", flush=True)
        if not up:
            failures.append(f"{phase}: the server is not up")
            break
        if after_fds > base_fds + args.fd_slack:
            failures.append(f"{phase}: {after_fds} descriptors after the phase (baseline {base_fds})")
        if after_rss > base_rss + args.rss_slack_mib:
            failures.append(f"{phase}: RSS {after_rss:.0f} MiB after the phase (baseline {base_rss:.0f})")
        if peak_rss > base_rss + args.rss_peak_mib:
            failures.append(f"{phase}: RSS peaked at {peak_rss:.0f} MiB (baseline {base_rss:.0f})")
        failures.extend(f"{phase}: {m}" for m in attack_failures(phase, outcome))
        time.sleep(1.0)

    go.clear()
    wb.join(timeout=60)
    sampler.stop.set()
    samples = []
    try:
        with open(out_path) as f:
            samples = [json.loads(l) for l in f]
        os.unlink(out_path)
    except OSError:
        failures.append("the well-behaved clients left no results")

    unloaded_p99 = None
    print()
    print(f"{'phase':<11} {'secs':>5} {'wb n':>6} {'wb err':>6} {'p50 ms':>7} {'p99 ms':>7} {'ratio':>5} "
          f"{'quiet p99':>9} {'ratio':>5}  "
          f"{'fds before/peak/after':>21}  {'RSS MiB before/peak/after':>25}  {'CPU s srv/att/other':>19}  up")
    for res, (phase, t0, t1) in zip(results, windows):
        lat = [s[1] for s in samples if t0 <= s[0] <= t1 and s[2] == 200]
        bad = [s for s in samples if t0 <= s[0] <= t1 and s[2] != 200]
        p50, p99 = percentile(lat, 50) * 1000, percentile(lat, 99) * 1000
        if phase == "baseline":
            unloaded_p99 = p99
        ratio = p99 / unloaded_p99 if unloaded_p99 else float("nan")
        q99 = unloaded_p99
        if phase in quiet:
            q0, q1 = quiet[phase]
            q99 = percentile([s[1] for s in samples if q0 <= s[0] <= q1 and s[2] == 200], 99) * 1000
        qratio = p99 / q99 if q99 else float("nan")
        res.update({"wb_requests": len(lat), "wb_errors": len(bad), "wb_p50_ms": round(p50, 2),
                    "wb_p99_ms": round(p99, 2), "p99_ratio": round(ratio, 2),
                    "quiet_p99_ms": round(q99, 2) if q99 else None, "p99_ratio_to_quiet": round(qratio, 2)})
        f, r = res["fds"], res["rss_mib"]
        cpu_text = f"{res['server_cpu_s']:.1f}/{res['attacker_cpu_s']:.1f}/{res['other_cpu_s']:.1f}"
        print(f"{phase:<11} {res['seconds']:>5.0f} {len(lat):>6} {len(bad):>6} {p50:>7.1f} {p99:>7.1f} {ratio:>5.2f} "
              f"{q99 or float('nan'):>9.1f} {qratio:>5.2f}  "
              f"{f'{f[0]}/{f[1]}/{f[2]}':>21}  {f'{r[0]:.0f}/{r[1]:.0f}/{r[2]:.0f}':>25}  "
              f"{cpu_text:>19}  "
              f"{'yes' if res['up'] else 'NO'}")
        if bad:
            codes = {}
            for s in bad:
                codes[s[2]] = codes.get(s[2], 0) + 1
            failures.append(f"{phase}: {len(bad)} well-behaved requests failed {codes}")
        bar_ratio, bar_ref = (qratio, q99) if args.bar == "quiet" else (ratio, unloaded_p99)
        if phase != "baseline" and bar_ref and bar_ratio > args.max_p99_ratio and len(lat) >= args.min_samples:
            failures.append(f"{phase}: well-behaved p99 {p99:.1f} ms is {ratio:.2f}x the first baseline's "
                            f"{unloaded_p99:.1f} ms ({qratio:.2f}x the {q99:.1f} ms of the quiet window before it)")
        if not lat:
            failures.append(f"{phase}: no well-behaved request was answered")

    exit_code = None
    if proc is not None:
        proc.send_signal(signal.SIGTERM)
        try:
            exit_code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            exit_code = "killed"
        if exit_code != 0:
            failures.append(f"smm serve exited {exit_code} after SIGTERM")
        print(f"smm serve exit after SIGTERM: {exit_code} (log {log.name})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cpu": cpu, "cpus": os.cpu_count(), "phases": results, "failures": failures,
                       "exit": exit_code}, f, indent=1)
    print()
    if failures:
        print("FAIL:")
        for m in failures:
            print("  " + m)
        sys.exit(1)
    print("hostile_check: all bars passed")


def merge(total, o):
    """Adds up the outcomes of repeated garbage rounds (counts add; by_kind is the last round's)."""
    if total is None:
        return dict(o, rounds=1)
    for k, v in o.items():
        if isinstance(v, dict) and k != "by_kind":
            for kk, vv in v.items():
                total[k][kk] = total[k].get(kk, 0) + vv
        elif isinstance(v, int):
            total[k] = total.get(k, 0) + v
        else:
            total[k] = v
    total["rounds"] += 1
    return total


def summarize_bigbody(runs):
    """Repeated 1 GiB sends of one mode: statuses counted, the most sent before the answer, the slowest answer."""
    statuses = {}
    for r in runs:
        statuses[str(r["status"])] = statuses.get(str(r["status"]), 0) + 1
    return {"mode": runs[0]["mode"], "sends": len(runs), "statuses": statuses,
            "max_sent_mib": max(r["sent_mib"] for r in runs), "max_answer_s": max(r["answer_s"] for r in runs),
            "server_closed": sum(1 for r in runs if r["server_closed"]),
            "client_errors": sorted({r["client_error"] for r in runs if r["client_error"]})}


def attack_failures(phase, o):
    """What an attack's outcome must not show."""
    out = []
    if phase in ("slowloris", "slowbody"):
        if o.get("still_open"):
            out.append(f"{o['still_open']} connections were still open when the check gave up")
    elif phase == "idle":
        if o.get("still_open"):
            out.append(f"{o['still_open']} idle connections were still open when the check gave up")
    elif phase == "garbage":
        if o.get("still_open"):
            out.append(f"{o['still_open']} garbage connections were left open")
        ok = {"400", "413", "431", "200", "404"}
        odd = {k: v for k, v in o.get("answers", {}).items() if k not in ok}
        if odd:
            out.append(f"unexpected answers {odd}")
    elif phase == "bigbody":
        for k, r in o.items():
            if set(r["statuses"]) != {"413"}:
                out.append(f"{k}: statuses {r['statuses']} (want 413 only), client errors {r['client_errors']}")
            if r["server_closed"] != r["sends"]:
                out.append(f"{k}: the server kept {r['sends'] - r['server_closed']} connections open after refusing the body")
    elif phase == "manyinputs":
        five = {k: v for k, v in o.get("statuses", {}).items() if k.startswith("5")}
        if five:
            out.append(f"server errors {five}")
    return out


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Drain under load: CLIENTS closed-loop clients POST one sentence each to /v1/embeddings on a
running `smm serve`, SIGTERM goes to the server after WARMUP seconds, and every request's fate is
counted. A client behaves as one behind a load balancer would: a 503 (the server is draining)
means "go to another replica", so that client stops; anything else is an error of the drain:
  no_answer   the request was sent and the connection closed or reset before an answer
  refused     the connection could not be opened (the listener closed while clients still came)
Exit 0 when both are 0 and the server exited 0. Stdlib only.

    python3 Tools/drain_check.py --port 18090 --pid "$PID" --clients 32
"""
import argparse
import http.client
import json
import os
import signal
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True, help="the smm serve process to SIGTERM")
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds of load before SIGTERM")
    ap.add_argument("--model", default="all-MiniLM-L6-v2")
    ap.add_argument("--sentences", default=os.path.join(HERE, "..", "..", "shared", "peers", "serving", "sentences.txt"))
    args = ap.parse_args()

    try:
        with open(args.sentences, encoding="utf-8") as f:
            sentences = [s.strip() for s in f if s.strip()]
    except OSError:
        sentences = ["Stocks edge higher as investors await inflation data"]
    lock = threading.Lock()
    counts = {"ok_before": 0, "ok_after": 0, "503": 0, "other_status": 0, "no_answer": 0, "refused": 0}
    term_at = [None]

    def client(i):
        conn = None
        n = i
        while True:
            body = json.dumps({"model": args.model, "input": sentences[n % len(sentences)]})
            n += args.clients
            if conn is None:
                conn = http.client.HTTPConnection(args.host, args.port, timeout=60)
                try:
                    conn.connect()
                except OSError:
                    with lock:
                        counts["refused"] += 1
                    return
            try:
                conn.request("POST", "/v1/embeddings", body, {"content-type": "application/json"})
                resp = conn.getresponse()
                resp.read()
                status = resp.status
                closing = resp.getheader("connection", "").lower() == "close"
            except (OSError, http.client.HTTPException):
                with lock:
                    counts["no_answer"] += 1
                return
            with lock:
                if status == 200:
                    counts["ok_after" if term_at[0] is not None else "ok_before"] += 1
                elif status == 503:
                    counts["503"] += 1
                else:
                    counts["other_status"] += 1
            if status == 503:
                return
            if closing:
                conn.close()
                conn = None

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(args.clients)]
    for t in threads:
        t.start()
    time.sleep(args.warmup)
    term_at[0] = time.monotonic()
    os.kill(args.pid, signal.SIGTERM)
    for t in threads:
        t.join(timeout=60)
    waited = 0.0
    status = None
    while waited < 60:
        try:
            pid, code = os.waitpid(args.pid, os.WNOHANG)
            if pid:
                status = os.waitstatus_to_exitcode(code)
                break
        except ChildProcessError:
            # not our child: poll /proc (a zombie has exited; its parent reaps it)
            try:
                with open(f"/proc/{args.pid}/stat") as f:
                    if f.read().split(")")[-1].split()[0] == "Z":
                        break
            except OSError:
                break
        time.sleep(0.05)
        waited += 0.05
    counts["seconds_to_exit"] = round(time.monotonic() - term_at[0], 2)
    counts["exit_status"] = status
    counts["clients"] = args.clients
    print(json.dumps(counts))
    bad = counts["no_answer"] + counts["refused"] + counts["other_status"]
    raise SystemExit(0 if bad == 0 and status in (0, None) else 1)


if __name__ == "__main__":
    main()

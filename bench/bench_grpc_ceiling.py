"""The most unary calls per second grpcio carries on this machine with no work behind them.

    python -m bench.bench_grpc_ceiling [--clients 1000] [--client-procs 8] [--seconds 20]
        [--server-threads 32] [--server-procs 1]

The setting of ``bench_grpc`` (b) with the storage taken out: ``--clients`` threads spread
over ``--client-procs`` processes, each thread with its own channel (the options of
trialstore's client), calling a method that returns an empty reply at once, in one server
process of ``--server-threads`` threads (with ``--server-procs`` N > 1, N processes share the
port through SO_REUSEPORT). Messages are raw bytes: no protobuf work on either side. What a
proxy does per call (decode, a database round trip, encode) only adds to this, so it bounds
the trials/s of any Python gRPC proxy on this machine from above: calls/s divided by the
calls a trial takes (3 for trialstore's at_tell client in (b)).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from bench.bench_grpc import _free_port

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_METHOD = "/ceiling.Echo/Call"
_CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", -1),
    ("grpc.max_send_message_length", -1),
    ("grpc.initial_reconnect_backoff_ms", 50),
    ("grpc.min_reconnect_backoff_ms", 50),
    ("grpc.max_reconnect_backoff_ms", 1000),
]


def _serve(port: int, threads: int) -> None:
    import grpc

    handler = grpc.method_handlers_generic_handler(
        "ceiling.Echo", {"Call": grpc.unary_unary_rpc_method_handler(lambda req, ctx: b"")}
    )
    server = grpc.server(
        ThreadPoolExecutor(max_workers=threads), options=[("grpc.so_reuseport", 1)]
    )
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    print("ready", flush=True)
    server.wait_for_termination()


def _clients(port: int, threads: int, seconds: float) -> None:
    """Run ``threads`` callers for ``seconds`` after a common start; print the calls made."""
    import grpc

    calls = [0] * threads
    ready = threading.Barrier(threads + 1)
    deadline = [0.0]

    def caller(i: int) -> None:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=_CHANNEL_OPTIONS)
        call = channel.unary_unary(_METHOD)
        call(b"", timeout=120)  # connected before the clock starts
        ready.wait()
        while time.monotonic() < deadline[0]:
            call(b"", timeout=120)
            calls[i] += 1
        channel.close()

    pool = [threading.Thread(target=caller, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    deadline[0] = time.monotonic() + seconds
    ready.wait()
    for t in pool:
        t.join()
    print(json.dumps({"calls": sum(calls)}), flush=True)


def measure(
    clients: int, client_procs: int, seconds: float, server_threads: int, server_procs: int
) -> float:
    """Return the calls per second all clients made together."""
    port = _free_port()
    me = [sys.executable, "-m", "bench.bench_grpc_ceiling"]
    servers = [
        subprocess.Popen(
            [*me, "_serve", str(port), str(server_threads)],
            cwd=_ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(server_procs)
    ]
    try:
        for server in servers:
            assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        per = [clients // client_procs + (i < clients % client_procs) for i in range(client_procs)]
        workers = [
            subprocess.Popen(
                [*me, "_clients", str(port), str(n), str(seconds)],
                cwd=_ROOT,
                stdout=subprocess.PIPE,
                text=True,
            )
            for n in per
        ]
        outputs = [w.communicate()[0] for w in workers]
    finally:
        for server in servers:
            server.kill()
            server.wait()
    total = sum(json.loads(out.strip().splitlines()[-1])["calls"] for out in outputs)
    return total / seconds


def main() -> None:
    args = sys.argv[1:]
    if args and args[0] == "_serve":
        _serve(int(args[1]), int(args[2]))
        return
    if args and args[0] == "_clients":
        _clients(int(args[1]), int(args[2]), float(args[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--client-procs", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--server-threads", type=int, default=32)
    parser.add_argument("--server-procs", type=int, default=1)
    opts = parser.parse_args(args)
    rate = measure(
        opts.clients, opts.client_procs, opts.seconds, opts.server_threads, opts.server_procs
    )
    print(
        f"{opts.clients} clients in {opts.client_procs} processes, {opts.server_procs} server "
        f"process(es) of {opts.server_threads} threads: {rate:.0f} empty calls/s "
        f"(at 3 calls a trial: at most {rate / 3:.0f} trials/s)",
        flush=True,
    )


if __name__ == "__main__":
    main()

"""bench_grpc's (b) with the storage taken out: how fast grpcio alone serves it here.

    python -m bench.bench_grpc_ceiling [--clients 1000] [--client-procs 8]
        [--calls-per-client 3] [--server-threads 32] [--server-procs 1]

As in ``bench_grpc`` (b), the clock starts once the ``--client-procs`` client processes
have imported grpc, and each of the ``--clients`` threads spread over them opens its own
channel (the options of trialstore's client) and makes its calls (3: what an at_tell trial
takes in (b)). Here each call returns an empty reply at once, from one server process of
``--server-threads`` threads (with ``--server-procs`` N > 1, N processes share the port
through SO_REUSEPORT); messages are raw bytes, so neither side does protobuf work. What a
proxy does per call (decode, a database round trip, encode) only adds to this, so clients/s
here bounds (b)'s trials/s from above for any Python gRPC proxy on this machine. The CPU
a client took (its process's, and the server's for its calls) is a floor under what a trial
of (b) costs the machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from bench._cpu import cpu_report, process_cpu_seconds
from bench.bench_grpc import _free_port, _start_workers

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


def _clients(port: int, threads: int, calls: int) -> None:
    """Run ``threads`` clients at once, each opening a channel and making ``calls`` calls."""
    import grpc

    def client() -> None:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=_CHANNEL_OPTIONS)
        call = channel.unary_unary(_METHOD)
        for _ in range(calls):
            call(b"", timeout=120)
        channel.close()

    pool = [threading.Thread(target=client) for _ in range(threads)]
    print("ready", flush=True)
    sys.stdin.readline()
    cpu = time.process_time()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    print(time.process_time() - cpu, flush=True)


def measure(
    clients: int, client_procs: int, calls: int, server_threads: int, server_procs: int
) -> tuple[float, dict[str, float]]:
    """Return the seconds from the client processes' common start (once each has imported
    grpc) until all of them ended, and the CPU seconds the clients and the server(s) spent
    in that time."""
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
        workers, start = _start_workers(
            [[*me, "_clients", str(port), str(n), str(calls)] for n in per]
        )
        server_cpu = sum(process_cpu_seconds(server.pid) for server in servers)
        outputs = [worker.communicate()[0] for worker in workers]
        seconds = time.perf_counter() - start
        server_cpu = sum(process_cpu_seconds(server.pid) for server in servers) - server_cpu
        if any(worker.returncode != 0 for worker in workers):
            raise RuntimeError("a client process failed")
        clients_cpu = sum(float(out.split()[-1]) for out in outputs)
        return seconds, {"clients": clients_cpu, "server": server_cpu}
    finally:
        for server in servers:
            server.kill()
            server.wait()


def main() -> None:
    args = sys.argv[1:]
    if args and args[0] == "_serve":
        _serve(int(args[1]), int(args[2]))
        return
    if args and args[0] == "_clients":
        _clients(int(args[1]), int(args[2]), int(args[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--client-procs", type=int, default=8)
    parser.add_argument("--calls-per-client", type=int, default=3)
    parser.add_argument("--server-threads", type=int, default=32)
    parser.add_argument("--server-procs", type=int, default=1)
    opts = parser.parse_args(args)
    seconds, cpu = measure(
        opts.clients,
        opts.client_procs,
        opts.calls_per_client,
        opts.server_threads,
        opts.server_procs,
    )
    print(
        f"{opts.clients} clients x {opts.calls_per_client} empty calls, {opts.client_procs} "
        f"client processes, {opts.server_procs} server process(es) of {opts.server_threads} "
        f"threads: {seconds:.2f} s, {opts.clients / seconds:.0f} clients/s",
        flush=True,
    )
    print(cpu_report(cpu, opts.clients, "client", seconds))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""ullmctl's wall time per command and ullmd's start, memory and first-traffic latency, measured side by side.

Run by bench/startup.sh, which publishes the programs first. Every variant is measured in every round, in a shuffled
order, so that the load of other processes on the machine falls on all of them alike; medians and per-round ratios
are reported. Writes a markdown section to stdout.
"""
import argparse
import http.client
import json
import os
import random
import shutil
import socket
import statistics
import re
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ANSWER = json.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 0, "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}).encode()


class Stub(BaseHTTPRequestHandler):
    """The upstream provider: answers every chat completion at once, keep-alive."""
    protocol_version = "HTTP/1.1"

    def do_POST(self):  # noqa: N802 (http.server's naming)
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(ANSWER)))
        self.end_headers()
        self.wfile.write(ANSWER)

    def log_message(self, *args):
        pass


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def median(values):
    return statistics.median(values) if values else float("nan")


def percentile(values, p):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_ms(pid):
    """utime + stime of a live process so far, in ms."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def write_config(directory, stub_port):
    paths = {name: os.path.join(directory, name) for name in ("openai.sock", "admin.sock", "data", "config.toml")}
    with open(paths["config.toml"], "w") as config:
        config.write(f"""[server]
data_dir = "{paths['data']}"
openai_socket = "{paths['openai.sock']}"
admin_socket = "{paths['admin.sock']}"
tcp_listen = ""

[security]
anonymous_providers = true
default_requests_per_minute = 0

[providers.stub]
kind = "openai"
base_url = "http://127.0.0.1:{stub_port}/v1"
api_key_env = "ULLM_BENCH_STUB_KEY"
models = ["m"]
""")
    return paths


class Daemon:
    """One ullmd with an empty database; start() times exec -> READY=1 and exec -> first answered request."""

    def __init__(self, command, env, stub_port):
        self.directory = tempfile.mkdtemp(prefix="ullm-startup.")
        self.paths = write_config(self.directory, stub_port)
        self.command = command
        self.env = dict(os.environ, ULLM_BENCH_STUB_KEY="bench", **env)
        self.process = None
        self.ready_cpu = None
        self.log_path = os.path.join(self.directory, "ullmd.log")

    def start(self):
        notify_path = os.path.join(self.directory, "notify.sock")
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(notify_path)
        ready_at = []

        def listen():
            notify.settimeout(120)
            while True:
                try:
                    message = notify.recv(4096)
                except OSError:
                    return
                if b"READY=1" in message.split(b"\n"):
                    ready_at.append(time.perf_counter())
                    self.ready_cpu = cpu_ms(self.process.pid)
                    return

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        env = dict(self.env, NOTIFY_SOCKET=notify_path)
        started = time.perf_counter()
        self.process = subprocess.Popen([*self.command, "--config", self.paths["config.toml"]], env=env,
                                        stdout=subprocess.DEVNULL, stderr=open(self.log_path, "w"))
        first = None
        while first is None:
            if self.process.poll() is not None:
                raise RuntimeError(f"ullmd exited with {self.process.returncode}: {open(self.log_path).read()[-2000:]}")
            try:
                connection = UnixConnection(self.paths["openai.sock"], timeout=60)
                connection.request("GET", "/health")
                if connection.getresponse().status == 200:
                    first = time.perf_counter()
                connection.close()
            except (FileNotFoundError, ConnectionRefusedError):
                time.sleep(0.002)
            if time.perf_counter() - started > 120:
                raise RuntimeError("ullmd did not answer /health within 120 s")
        listener.join(120)
        notify.close()
        if not ready_at:
            raise RuntimeError("ullmd answered but sent no READY=1")
        return (ready_at[0] - started) * 1000, (first - started) * 1000, self.ready_cpu

    def traffic(self, seconds, clients):
        """Chat completions through the provider from `clients` keep-alive clients: latencies in ms."""
        latencies = [[] for _ in range(clients)]
        errors = []
        body = json.dumps({"model": "stub/m", "messages": [{"role": "user", "content": "hi"}]})
        deadline = time.perf_counter() + seconds

        def run(index):
            connection = UnixConnection(self.paths["openai.sock"])
            while time.perf_counter() < deadline:
                begin = time.perf_counter()
                connection.request("POST", "/v1/chat/completions", body=body, headers={"content-type": "application/json"})
                response = connection.getresponse()
                response_body = response.read()
                if response.status != 200:
                    errors.append(f"{response.status} {response_body[:200]!r}")
                    return
                latencies[index].append((time.perf_counter() - begin) * 1000)
            connection.close()

        threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise RuntimeError(f"request failed: {errors[0]}")
        return [latency for per_client in latencies for latency in per_client]

    def phases(self):
        """ullmd's own account of its start (the "Ready ... ms after exec" line): {phase: (wall ms, CPU ms)}."""
        deadline = time.time() + 10
        while time.time() < deadline:
            with open(self.log_path) as log:
                for line in log:
                    if "Ready " in line and " ms after exec" in line:
                        return {m.group(1): (int(m.group(2)), int(m.group(3)))
                                for m in re.finditer(r"([a-z][a-z ]+) (\d+) ms \(CPU (\d+)\)", line.split(" of CPU: ", 1)[1])}
            time.sleep(0.05)
        raise RuntimeError(f"ullmd logged no 'Ready' line: see {self.log_path}")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def measure_ctl(ctl_variants, admin_socket, rounds):
    commands = {
        "status": ["status"],
        "models": ["models"],
        "gpus": ["gpus"],
        "completion (tab)": ["[suggest:11]", "ullmctl mod"],
        "--help": ["--help"],
    }
    times = {(v, c): [] for v in ctl_variants for c in commands}
    cpu = {(v, c): [] for v in ctl_variants for c in commands}
    for _ in range(rounds):
        order = [(v, c) for v in ctl_variants for c in commands]
        random.shuffle(order)
        for variant, command in order:
            argv = [ctl_variants[variant], *commands[command]]
            if command not in ("completion (tab)", "--help"):
                argv += ["--socket", admin_socket]
            begin = time.perf_counter()
            child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            _, status, usage = os.wait4(child.pid, 0)
            elapsed = (time.perf_counter() - begin) * 1000
            child.returncode = os.waitstatus_to_exitcode(status)
            if child.returncode != 0:
                raise RuntimeError(f"{' '.join(argv)} exited {child.returncode}")
            times[(variant, command)].append(elapsed)
            cpu[(variant, command)].append((usage.ru_utime + usage.ru_stime) * 1000)
    return commands, times, cpu


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ctl", action="append", default=[], help="NAME=PATH of an ullmctl build")
    parser.add_argument("--ullmd", action="append", default=[], help="NAME=PATH|ENV=VALUE,... an ullmd build and its environment")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--daemon-rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--no-traffic", action="store_true", help="only start each ullmd: READY=1, first answer, phases, idle RSS")
    args = parser.parse_args()

    stub = ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    stub_port = stub.server_address[1]

    ctl_variants = dict(item.split("=", 1) for item in args.ctl)
    daemon_variants = {}
    for item in args.ullmd:
        name, rest = item.split("=", 1)
        path, _, env = rest.partition("|")
        daemon_variants[name] = (path, dict(pair.split("=", 1) for pair in env.split(",") if pair))

    out = []
    if ctl_variants:
        measure_ctl_section(out, ctl_variants, daemon_variants, stub_port, args.rounds)

    phases = {name: [] for name in daemon_variants}
    results = {name: {"ready": [], "first": [], "ready_cpu": [], "rss_start": [], "cold_p99": [], "warm_p99": [], "warm_p50": [],
                      "warm_rps": [], "rss_after": []} for name in daemon_variants}
    for _ in range(args.daemon_rounds):
        order = list(daemon_variants)
        random.shuffle(order)
        for name in order:
            path, env = daemon_variants[name]
            daemon = Daemon([path], env, stub_port)
            try:
                ready, first, ready_cpu = daemon.start()
                phases[name].append(daemon.phases())
                results[name]["ready"].append(ready)
                results[name]["ready_cpu"].append(ready_cpu)
                results[name]["first"].append(first)
                time.sleep(3)
                results[name]["rss_start"].append(rss_kib(daemon.process.pid) / 1024)
                if args.no_traffic:
                    continue
                cold = daemon.traffic(args.seconds, args.clients)
                warm = daemon.traffic(args.seconds, args.clients)
                results[name]["cold_p99"].append(percentile(cold, 99))
                results[name]["warm_p99"].append(percentile(warm, 99))
                results[name]["warm_p50"].append(percentile(warm, 50))
                results[name]["warm_rps"].append(len(warm) / args.seconds)
                time.sleep(3)
                results[name]["rss_after"].append(rss_kib(daemon.process.pid) / 1024)
            finally:
                daemon.stop()

    out.append(f"\n### ullmd: start, idle memory, first {args.seconds:g} s of traffic (median of {args.daemon_rounds} starts each)\n")
    if args.no_traffic:
        out.append("Started only (`--no-traffic`): no traffic columns. RSS idle: 3 s after the first answer.\n")
    else:
        out.append(f"Traffic: chat completions to an OpenAI-compatible provider (a Python stub on loopback) through ullmd's unix "
                   f"socket, {args.clients} keep-alive clients, {args.seconds:g} s right after the first answer (cold), then "
                   f"{args.seconds:g} s more (warm). RSS idle: 3 s after the first answer, before any traffic.\n")
    out.append("| ullmd | settings | exec→READY=1 ms | CPU until READY=1 ms | exec→first answer ms | RSS idle MB | cold p99 ms | warm p99 ms | "
               "cold/warm p99 | warm p50 ms | warm req/s | RSS after traffic MB |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        _, env = daemon_variants[name]
        settings = ", ".join(f"{k}={v}" for k, v in env.items()) or "as shipped"
        if args.no_traffic:
            traffic = "| – | – | – | – | – | – |"
        else:
            ratio = median([c / w for c, w in zip(r["cold_p99"], r["warm_p99"])])
            traffic = (f"| {median(r['cold_p99']):.2f} | {median(r['warm_p99']):.2f} | {ratio:.2f}x | {median(r['warm_p50']):.2f} | "
                       f"{median(r['warm_rps']):.0f} | {median(r['rss_after']):.1f} |")
        out.append(f"| {name} | {settings} | {median(r['ready']):.0f} | {median(r['ready_cpu']):.0f} | {median(r['first']):.0f} | "
                   f"{median(r['rss_start']):.1f} " + traffic)

    names = list(next(iter(phases.values()))[0])
    out.append(f"\n### ullmd: where the start goes, by its own \"Ready\" log line (CPU ms, median of {args.daemon_rounds} starts; wall ms in brackets)\n")
    out.append("| ullmd | " + " | ".join(names) + " |")
    out.append("|---" * (len(names) + 1) + "|")
    for name, runs in phases.items():
        cells = [f"{median([run[p][1] for run in runs]):.0f} ({median([run[p][0] for run in runs]):.0f})" for p in names]
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    print("\n".join(out))


def measure_ctl_section(out, ctl_variants, daemon_variants, stub_port, rounds):
    """ullmctl's wall and CPU time per command, every build against one live ullmd."""
    first_daemon = next(iter(daemon_variants.values()))
    live = Daemon([first_daemon[0]], first_daemon[1], stub_port)
    try:
        live.start()
        commands, times, cpu = measure_ctl(ctl_variants, live.paths["admin.sock"], rounds)
    finally:
        live.stop()
    baseline = next(iter(ctl_variants))
    out.append(f"### ullmctl wall time, ms (median of {rounds} rounds; its p90; CPU time (user+sys) median; "
               f"ratio of wall time to `{baseline}`: median of per-round ratios)\n")
    out.append("| command | " + " | ".join(ctl_variants) + " |")
    out.append("|---" * (len(ctl_variants) + 1) + "|")
    for command in commands:
        cells = []
        for variant in ctl_variants:
            values = times[(variant, command)]
            ratios = [a / b for a, b in zip(values, times[(baseline, command)])]
            cells.append(f"{median(values):.1f} (p90 {percentile(values, 90):.1f}; CPU {median(cpu[(variant, command)]):.0f}; "
                         f"{median(ratios):.2f}x)")
        out.append(f"| `{command}` | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

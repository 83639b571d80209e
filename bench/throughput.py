"""Aggregate completion tokens/s of concurrent streaming chat clients against OpenAI-compatible base URLs, side by side.

usage: python3 throughput.py --target NAME=URL [--target NAME=URL ...] --model M [--clients 1,4,16] [--seconds 5]
                             [--rounds 5] [--warmup 3] [--cpu NAME=PID[,PID...] ...] [--model-cpu NAME=PID ...]
The first target is the reference (llama-server asked directly). Each target first gets an untimed warm-up (the
highest client count for --warmup seconds). Then, for each client count, every round runs C clients for --seconds
against each target in turn, the order rotated by one each round, so that every target sees the same machine, is
measured first as often as the others, and never only after another's load. A token is one streamed chunk with
non-empty delta content (llama-server sends one per token).

--cpu names the processes whose CPU time (user + system, all threads, from /proc/PID/stat before and after each
measurement) a target's relay costs: ullmd, or nginx's worker. --model-cpu names the llama-server that target's tokens
come from: a relay that takes CPU from the model shows as more model CPU per token as well as fewer tokens/s.

Prints Markdown tables: tokens/s per target and step (median of the rounds, min-max), each target's ratio to the
reference (median of the rounds' ratios, each against the same round's reference, min-max), and CPU microseconds per
streamed token.
"""
import argparse
import http.client
import json
import os
import statistics
import threading
import time
import urllib.parse

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def stream_once(url, model, max_tokens):
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "Tell me a story."}],
                       "max_tokens": max_tokens, "stream": True})
    connection.request("POST", parts.path.rstrip("/") + "/chat/completions", body, {"Content-Type": "application/json"})
    response = connection.getresponse()
    if response.status != 200:
        raise RuntimeError(f"{url}: HTTP {response.status}: {response.read()[:300]!r}")
    tokens = 0
    for raw in response:
        if not raw.startswith(b"data: "):
            continue
        data = raw[6:].strip()
        if data == b"[DONE]":
            break
        # Only chunks that may hold content are parsed: the client's own CPU is taken from every target alike.
        if b'"content"' not in data:
            continue
        choices = json.loads(data).get("choices") or []
        if choices and (choices[0].get("delta") or {}).get("content"):
            tokens += 1
    connection.close()
    return tokens


def cpu_ticks(pids):
    """User + system ticks of the processes (all their threads); fields after the command name's last ')' are fixed."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total


def run_step(url, model, clients, seconds, max_tokens, watched):
    """Tokens/s of `clients` streaming clients for `seconds`, and the CPU seconds each watched group used meanwhile."""
    counts = [0] * clients
    errors = []
    deadline = time.monotonic() + seconds

    def client(i):
        try:
            while time.monotonic() < deadline:
                counts[i] += stream_once(url, model, max_tokens)
        except Exception as e:  # noqa: BLE001 - reported with the figures, never hidden
            errors.append(str(e))

    before = {name: cpu_ticks(pids) for name, pids in watched.items()}
    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    cpu = {name: (cpu_ticks(pids) - before[name]) / TICKS_PER_SECOND for name, pids in watched.items()}
    if errors:
        raise RuntimeError(f"{url} at {clients} clients: {len(errors)} client(s) failed, first: {errors[0]}")
    return sum(counts) / elapsed, sum(counts), cpu


def spread(values, fmt):
    return f"{fmt(statistics.median(values))} ({fmt(min(values))}–{fmt(max(values))})"


def pid_map(pairs):
    result = {}
    for pair in pairs or []:
        name, pids = pair.split("=", 1)
        result[name] = [int(p) for p in pids.split(",") if p]
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", action="append", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--clients", default="1,4,16")
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--cpu", action="append")
    parser.add_argument("--model-cpu", action="append")
    args = parser.parse_args()
    targets = [t.split("=", 1) for t in args.target]
    names = [name for name, _ in targets]
    relay_pids, model_pids = pid_map(args.cpu), pid_map(args.model_cpu)
    steps = [int(c) for c in args.clients.split(",")]

    for name, url in targets:
        run_step(url, args.model, max(steps), args.warmup, args.max_tokens, {})

    rates = {(c, n): [] for c in steps for n in names}
    ratios = {(c, n): [] for c in steps for n in names[1:]}
    relay_us = {(c, n): [] for c in steps for n in relay_pids}
    model_us = {(c, n): [] for c in steps for n in model_pids}
    for clients in steps:
        for round_index in range(args.rounds):
            shift = round_index % len(targets)
            round_rates = {}
            for name, url in targets[shift:] + targets[:shift]:
                watched = {}
                if name in relay_pids:
                    watched["relay"] = relay_pids[name]
                if name in model_pids:
                    watched["model"] = model_pids[name]
                rate, tokens, cpu = run_step(url, args.model, clients, args.seconds, args.max_tokens, watched)
                round_rates[name] = rate
                rates[(clients, name)].append(rate)
                if "relay" in cpu:
                    relay_us[(clients, name)].append(cpu["relay"] * 1e6 / tokens)
                if "model" in cpu:
                    model_us[(clients, name)].append(cpu["model"] * 1e6 / tokens)
            for name in names[1:]:
                ratios[(clients, name)].append(round_rates[name] / round_rates[names[0]])

    one = lambda v: f"{v:.0f}"  # noqa: E731
    two = lambda v: f"{v:.2f}"  # noqa: E731
    print(f"Tokens/s, median of {args.rounds} rounds (min–max); ratio: median of the rounds' ratios to {names[0]} (min–max).")
    print()
    print("| clients | " + " | ".join(f"{n} tokens/s" for n in names) + " | "
          + " | ".join(f"{n} / {names[0]}" for n in names[1:]) + " |")
    print("|---:|" + "---:|" * (2 * len(names) - 1))
    for clients in steps:
        print(f"| {clients} | " + " | ".join(spread(rates[(clients, n)], one) for n in names) + " | "
              + " | ".join(spread(ratios[(clients, n)], two) for n in names[1:]) + " |")
    if relay_pids or model_pids:
        print()
        print("CPU time per streamed token, µs, median of the rounds (min–max): the relay's own process, and the"
              " llama-server that served the tokens.")
        print()
        columns = [(f"{n} relay", relay_us, n) for n in relay_pids] + [(f"{n}'s model", model_us, n) for n in model_pids]
        print("| clients | " + " | ".join(title for title, _, _ in columns) + " |")
        print("|---:|" + "---:|" * len(columns))
        for clients in steps:
            print(f"| {clients} | " + " | ".join(spread(table[(clients, n)], one) for _, table, n in columns) + " |")


if __name__ == "__main__":
    main()

"""Aggregate completion tokens/s of concurrent streaming chat clients against two OpenAI-compatible base URLs, side by side.

usage: python3 throughput.py --target NAME=URL [--target NAME=URL ...] --model M [--clients 1,4,16] [--seconds 10]
Each step runs C clients for the given time against one target, then the same C against the next, so that both see the
same machine. A token is one streamed chunk with non-empty delta content (llama-server sends one per token). Prints a
Markdown table: tokens/s per target and step, and each target's ratio to the first.
"""
import argparse
import http.client
import json
import threading
import time
import urllib.parse


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
        line = raw.decode().strip()
        if not line.startswith("data: "):
            continue
        data = line[6:]
        if data == "[DONE]":
            break
        choices = json.loads(data).get("choices") or []
        if choices and (choices[0].get("delta") or {}).get("content"):
            tokens += 1
    connection.close()
    return tokens


def run_step(url, model, clients, seconds, max_tokens):
    counts = [0] * clients
    errors = []
    deadline = time.monotonic() + seconds

    def client(i):
        try:
            while time.monotonic() < deadline:
                counts[i] += stream_once(url, model, max_tokens)
        except Exception as e:  # noqa: BLE001 - reported with the figures, never hidden
            errors.append(str(e))

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    if errors:
        raise RuntimeError(f"{url} at {clients} clients: {len(errors)} client(s) failed, first: {errors[0]}")
    return sum(counts) / elapsed, sum(counts)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", action="append", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--clients", default="1,4,16")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()
    targets = [t.split("=", 1) for t in args.target]
    for _, url in targets:
        stream_once(url, args.model, 8)  # warm-up: first request of each
    print("| clients | " + " | ".join(f"{name} tokens/s" for name, _ in targets) + " | "
          + " | ".join(f"{name} / {targets[0][0]}" for name, _ in targets[1:]) + " |")
    print("|---|" + "---|" * (2 * len(targets) - 1))
    for clients in [int(c) for c in args.clients.split(",")]:
        rates = [run_step(url, args.model, clients, args.seconds, args.max_tokens)[0] for _, url in targets]
        print(f"| {clients} | " + " | ".join(f"{r:.1f}" for r in rates) + " | "
              + " | ".join(f"{r / rates[0]:.2f}x" for r in rates[1:]) + " |", flush=True)


if __name__ == "__main__":
    main()

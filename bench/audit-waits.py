#!/usr/bin/env python3
"""Reads `perf script -F comm,pid,tid,cpu,time,event,trace` of sched:sched_switch and sched:sched_wakeup (recorded
system-wide) on stdin. For the request threads of one ullmd (its ".NET Sockets" threads: with inline I/O scheduling
every request runs on them) it charges each wait, from the moment a thread became runnable (woken, or preempted) until
it ran, to what held its core: the audit writer (ullmd's thread-pool workers, which at one client at a time run nothing
else), another of ullmd's threads, or another process. Prints one line per cause, the largest total first: count,
count over 0.5 ms, total, and µs per request.
usage: audit-waits.py ULLMD_PID REQUESTS LABEL"""
import collections
import re
import sys

ullmd = sys.argv[1]
requests = float(sys.argv[2])
label = sys.argv[3]
header = re.compile(r'^\s*(.*?)\s+(\d+)/(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+sched:(sched_switch|sched_wakeup):\s+(.*)$')
switch = re.compile(r'prev_pid=(\d+) .*?prev_state=(\S+) ==> next_comm=(.*?) next_pid=(\d+)')
wakeup = re.compile(r' pid=(\d+) .*?target_cpu=(\d+)')

events = [m for line in sys.stdin if (m := header.match(line))]
process_of = {m[3]: m[2] for m in events}
comm_of = {m[3]: m[1] for m in events}
request_threads = {tid for tid, pid in process_of.items() if pid == ullmd and 'Sockets' in comm_of[tid]}


def holder(tid, comm):
    if tid == '0':
        return 'idle'
    if process_of.get(tid) == ullmd:
        return 'the audit writer' if 'TP Worker' in comm else f"another of ullmd's threads ({comm})"
    return 'another process (' + re.sub(r'[/:]?\d+$', '', comm) + ')'


running, ready = {}, {}
total, count, long = collections.defaultdict(float), collections.Counter(), collections.Counter()
for m in events:
    cpu, at, trace = int(m[4]), float(m[5]), m[7]
    if m[6] == 'sched_switch' and (s := switch.search(trace)):
        prev, state, next_comm, nxt = s[1], s[2], s[3], s[4]
        if prev in request_threads and state.startswith('R'):
            ready[prev] = (at, 'preempted by ' + holder(nxt, next_comm))
        running[cpu] = (nxt, next_comm)
        if nxt in ready:
            since, why = ready.pop(nxt)
            total[why] += at - since
            count[why] += 1
            long[why] += at - since > 0.0005
    elif m[6] == 'sched_wakeup' and (w := wakeup.search(trace)) and w[1] in request_threads and w[1] not in ready:
        held, held_comm = running.get(int(w[2]), ('0', 'idle'))
        ready[w[1]] = (at, 'woken on a core held by ' + holder(held, held_comm))
for why in sorted(total, key=lambda w: -total[w]):
    print(f'{label}: {why}: {count[why]} waits, {long[why]} over 0.5 ms, {total[why] * 1e3:.1f} ms, {total[why] * 1e6 / requests:.2f} µs/request')

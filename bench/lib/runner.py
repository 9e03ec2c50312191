#!/usr/bin/env python3
"""The bench's exec runner: a light stand-in for a CNI runtime inside one test host netns.

It execs plugins and times them from spawn to the close of their stdout. Why not Node: Node 20's
libuv starts children with fork(), which blocks the parent for a time that grows with its
memory (about 3 ms for a bare Node, 5 ms and more for the bench agent), and that would be added
to every measured call, ours and Go's alike. Go runtimes (containerd, libcni) spawn with
clone(CLONE_VM|CLONE_VFORK), and so does CPython's subprocess (vfork) here, so the numbers are
what a real runtime sees. Same line-JSON protocol as bench/lib/agent.ts (exec, execMany, execPool).
"""
import json
import os
import subprocess
import sys
import threading
import time


def now_ms():
    return time.perf_counter_ns() / 1e6


def epoch_ms():
    return time.time_ns() / 1e6


def exec_one(cmd):
    env = cmd.get('env') or {}
    argv = [cmd['file'], *cmd.get('args', [])]
    data = (cmd.get('input') or '').encode()
    start_epoch = epoch_ms()
    t0 = now_ms()
    try:
        p = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=True)
    except OSError as e:
        t1 = now_ms()
        return {'ms': t1 - t0, 'startEpoch': start_epoch, 'endEpoch': start_epoch + (t1 - t0), 'code': -1, 'signal': None, 'stdout': '', 'stderr': str(e)}
    try:
        out, err = p.communicate(data, timeout=(cmd.get('timeoutMs') or 120000) / 1000)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    t1 = now_ms()
    code = p.returncode
    return {
        'ms': t1 - t0, 'startEpoch': start_epoch, 'endEpoch': start_epoch + (t1 - t0),
        'code': code if code >= 0 else None, 'signal': (f'SIG{-code}' if code < 0 else None),
        'stdout': out.decode(errors='replace'), 'stderr': err.decode(errors='replace')[:4000],
    }


def exec_many(cmds):
    results = [None] * len(cmds)

    def run(i):
        results[i] = exec_one(cmds[i])

    t0 = now_ms()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(cmds))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {'wallMs': now_ms() - t0, 'results': results}


def exec_pool(cmds, concurrency):
    results = [None] * len(cmds)
    lock = threading.Lock()
    state = {'next': 0}

    def worker():
        while True:
            with lock:
                i = state['next']
                state['next'] += 1
            if i >= len(cmds):
                return
            results[i] = exec_one(cmds[i])

    t0 = now_ms()
    threads = [threading.Thread(target=worker) for _ in range(max(1, concurrency))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    failures = [r for r in results if r['code'] != 0]
    first = (failures[0]['stdout'] or failures[0]['stderr']) if failures else None
    return {'wallMs': now_ms() - t0, 'n': len(results), 'failures': len(failures), 'firstFailure': first}


def handle(req):
    op = req['op']
    if op == 'exec':
        return exec_one(req['cmd'])
    if op == 'execMany':
        return exec_many(req['cmds'])
    if op == 'execPool':
        return exec_pool(req['cmds'], req.get('concurrency', 4))
    if op == 'exit':
        return 'bye'
    raise ValueError(f'the runner does not do {op}')


def main():
    out = sys.stdout
    out.write(json.dumps({'id': 0, 'ok': True, 'result': {'ready': True, 'pid': os.getpid()}}) + '\n')
    out.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        msg = json.loads(line)
        try:
            reply = {'id': msg['id'], 'ok': True, 'result': handle(msg['req'])}
        except Exception as e:  # noqa: BLE001 - report any failure to the driver
            reply = {'id': msg['id'], 'ok': False, 'error': repr(e)}
        out.write(json.dumps(reply) + '\n')
        out.flush()
        if msg['req'].get('op') == 'exit':
            return


if __name__ == '__main__':
    main()

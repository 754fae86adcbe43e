#!/usr/bin/env python3
"""Load and fault scenarios against a real `xiaoban serve` over loopback (run by scripts/load.sh).

  a. load      CHAT_SESSIONS concurrent chat sessions (TURNS turns each, alternately
               /api/v1/chat and /api/v1/chat/stream) and UPLOADS concurrent verification
               uploads at once: no error other than deliberate 429/503.
  b. rebuild   chat load while `xiaoban index` builds new generations on the same data folder:
               no request dropped, the server picks up the new index.
  c. sigkill   batches acknowledged (202) and uploads under way, SIGKILL, restart: every
               acknowledged job ends done or failed; recovery time = restart to all settled.
  d. sigterm   chat streams, uploads and a batch under way, SIGTERM: every request under way is
               answered, the process exits within the deadline, the batch settles after restart.
  e. soak      SOAK_UPLOADS verification uploads, SOAK_CONCURRENCY at a time (not in the default
               run: about a second per upload on two cores): the server's resident memory stays
               under SOAK_LIMIT_MB throughout and within SOAK_DRIFT_MB of its level after the
               first 100 uploads; reported after the first upload, after 100, at its maximum,
               at the end and after SOAK_IDLE_SECS idle.

Prints one report (throughput, p50/p99, status counts, recovery and shutdown times) and exits
non-zero when a scenario fails. Bounded: every request and every wait has a timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import aiohttp

PASSWORD = "load test password"
DEADLINE_SECS = 15
LEASE_SECS = 5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    k = min(len(v) - 1, max(0, round(p / 100 * (len(v) - 1))))
    return v[k]


class Stats:
    """Latencies and statuses per kind of request."""

    def __init__(self) -> None:
        self.lat: dict[str, list[float]] = {}
        self.status: dict[str, Counter] = {}

    def add(self, kind: str, status: int | str, seconds: float) -> None:
        self.status.setdefault(kind, Counter())[status] += 1
        if status == 200 or status == 202:
            self.lat.setdefault(kind, []).append(seconds)

    def errors(self) -> Counter:
        """Outcomes that are neither success nor a deliberate 429/503."""
        out: Counter = Counter()
        for kind, c in self.status.items():
            for s, n in c.items():
                if s not in (200, 202, 429, 503):
                    out[f"{kind}:{s}"] += n
        return out

    def deliberate(self) -> int:
        return sum(n for c in self.status.values() for s, n in c.items() if s in (429, 503))

    def total(self) -> int:
        return sum(sum(c.values()) for c in self.status.values())

    def lines(self, wall: float) -> list[str]:
        out = [f"  {self.total()} requests in {wall:.1f} s: {self.total() / wall:.1f} req/s"]
        for kind in sorted(self.status):
            lat = self.lat.get(kind, [])
            statuses = ", ".join(f"{s}×{n}" for s, n in sorted(self.status[kind].items(), key=str))
            out.append(
                f"  {kind:<14} n={sum(self.status[kind].values()):<5} "
                f"p50={percentile(lat, 50) * 1000:8.1f} ms  p99={percentile(lat, 99) * 1000:8.1f} ms  "
                f"max={max(lat, default=float('nan')) * 1000:8.1f} ms  [{statuses}]"
            )
        return out


def resident_mb(pid: int) -> float:
    """The process's resident set (VmRSS) in MB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


class Server:
    """One `xiaoban serve` process on a fixed port."""

    def __init__(self, binary: Path, config: Path, data: Path, log: Path, port: int) -> None:
        self.binary, self.config, self.data, self.port = binary, config, data, port
        self.log = log
        self.proc: subprocess.Popen | None = None
        self.base = f"http://127.0.0.1:{port}"

    def cmd(self, *args: str) -> list[str]:
        return [str(self.binary), "--config", str(self.config), "--data-dir", str(self.data), *args]

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("XIAOBAN_")}
        env["XIAOBAN_LOG"] = "warn"
        return env

    async def start(self) -> float:
        """Starts the process; returns the seconds until /healthz answers."""
        started = time.monotonic()
        out = open(self.log, "ab")
        self.proc = subprocess.Popen(
            self.cmd("serve", "--listen", f"127.0.0.1:{self.port}", "--log-format", "json"),
            stdout=subprocess.DEVNULL,
            stderr=out,
            env=self.env(),
        )
        async with aiohttp.ClientSession() as http:
            while time.monotonic() - started < 120:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited with {self.proc.returncode}; see {self.log}")
                try:
                    async with http.get(self.base + "/healthz", timeout=aiohttp.ClientTimeout(total=2)) as r:
                        if r.status == 200:
                            return time.monotonic() - started
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    pass
                await asyncio.sleep(0.05)
        raise RuntimeError("server did not answer /healthz within 120 s")

    def kill(self) -> None:
        assert self.proc
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def terminate(self) -> None:
        assert self.proc
        self.proc.send_signal(signal.SIGTERM)

    async def wait_exit(self, limit: float) -> tuple[int | None, float]:
        assert self.proc
        started = time.monotonic()
        while time.monotonic() - started < limit:
            if self.proc.poll() is not None:
                return self.proc.returncode, time.monotonic() - started
            await asyncio.sleep(0.02)
        self.proc.kill()
        self.proc.wait()
        return None, time.monotonic() - started

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def run(self, *args: str, stdin: str | None = None) -> str:
        r = subprocess.run(self.cmd(*args), input=stdin, capture_output=True, text=True, env=self.env(), timeout=300)
        if r.returncode != 0:
            raise RuntimeError(f"xiaoban {' '.join(args)}: {r.stderr}")
        return r.stdout


# ---------------------------------------------------------------- requests

TIMEOUT = aiohttp.ClientTimeout(total=180)


async def chat_session(http, base: str, stats: Stats, questions: list[str], turns: int, rng: random.Random) -> None:
    session_id = None
    for turn in range(turns):
        body = {"question": rng.choice(questions)}
        if session_id:
            body["session_id"] = session_id
        stream = (turn + rng.randrange(2)) % 2 == 1
        started = time.monotonic()
        kind = "chat_stream" if stream else "chat"
        try:
            async with http.post(base + ("/api/v1/chat/stream" if stream else "/api/v1/chat"), json=body, timeout=TIMEOUT) as r:
                if r.status != 200:
                    await r.read()
                    stats.add(kind, r.status, time.monotonic() - started)
                    if r.status in (429, 503):
                        await asyncio.sleep(1)
                    continue
                if stream:
                    event, done = None, None
                    async for raw in r.content:
                        line = raw.decode("utf-8").rstrip("\r\n")
                        if line.startswith("event:"):
                            event = line[6:].strip()
                        elif line.startswith("data:") and event in ("done", "error"):
                            done = (event, json.loads(line[5:]))
                    if not done or done[0] != "done":
                        stats.add(kind, f"stream-{done[0] if done else 'cut'}", time.monotonic() - started)
                        continue
                    session_id = done[1].get("session_id", session_id)
                else:
                    session_id = (await r.json()).get("session_id", session_id)
                stats.add(kind, 200, time.monotonic() - started)
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            stats.add(kind, f"conn-{type(e).__name__}", time.monotonic() - started)


async def upload(http, base: str, token: str, image: bytes, stats: Stats) -> dict | None:
    form = aiohttp.FormData()
    form.add_field("image", image, filename="card.png", content_type="image/png")
    started = time.monotonic()
    try:
        async with http.post(base + "/api/v1/verify", data=form, headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT) as r:
            body = await r.json(content_type=None)
            # A document the reader cannot read is an answer (422), not a server error.
            stats.add("verify", 200 if r.status == 422 else r.status, time.monotonic() - started)
            return body if r.status in (200, 422) else None
    except (aiohttp.ClientError, asyncio.TimeoutError) as e:
        stats.add("verify", f"conn-{type(e).__name__}", time.monotonic() - started)
        return None


async def batch(http, base: str, token: str, images: list[bytes], stats: Stats) -> list[str]:
    form = aiohttp.FormData()
    for i, img in enumerate(images):
        form.add_field("images", img, filename=f"{i}.png", content_type="image/png")
    started = time.monotonic()
    auth = {"Authorization": f"Bearer {token}"}
    async with http.post(base + "/api/v1/verify/batch", data=form, headers=auth, timeout=TIMEOUT) as r:
        stats.add("batch", r.status, time.monotonic() - started)
        if r.status != 202:
            return []
        batch_id = (await r.json())["batch_id"]
    async with http.get(base + f"/api/v1/verify/batch/{batch_id}", headers=auth, timeout=TIMEOUT) as r:
        return [j["job_id"] for j in (await r.json())["jobs"]]


async def job_states(http, base: str, token: str, jobs: list[str]) -> dict[str, str]:
    auth = {"Authorization": f"Bearer {token}"}
    out = {}
    for j in jobs:
        async with http.get(base + f"/api/v1/verify/{j}", headers=auth, timeout=TIMEOUT) as r:
            out[j] = (await r.json())["status"] if r.status == 200 else f"http-{r.status}"
    return out


async def login(http, base: str, name: str) -> str:
    async with http.post(base + "/api/v1/auth/login", json={"username": name, "password": PASSWORD}) as r:
        assert r.status == 200, f"login {name}: {r.status}"
        return (await r.json())["token"]


# ---------------------------------------------------------------- scenarios


class Run:
    def __init__(self, args) -> None:
        self.args = args
        self.work: Path = args.work
        self.questions = [
            json.loads(line)["question"]
            for line in (args.repo / "tests/eval/tuning.jsonl").read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("//")
        ]
        truth = json.loads((args.specimens / "truth.json").read_text(encoding="utf-8"))
        self.cards = [
            (args.specimens / img["file"]).read_bytes()
            for case in truth["cases"]
            for img in case["images"]
            if img["document_type"] in ("id_card_front", "business_license")
        ]
        self.report: list[str] = []
        self.failed: list[str] = []

    def server(self, name: str) -> Server:
        data = self.work / name
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir(parents=True)
        s = Server(self.args.binary, self.args.config, data, self.work / f"{name}.log", free_port())
        s.run("user", "add", "clerk-load", "--role", "clerk", stdin=PASSWORD + "\n")
        return s

    def check(self, scenario: str, ok: bool, why: str) -> None:
        if not ok:
            self.failed.append(f"{scenario}: {why}")
            self.report.append(f"  FAILED: {why}")

    async def load(self) -> None:
        a = self.args
        s = self.server("load")
        await s.start()
        rng = random.Random(1)
        stats = Stats()
        conn = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=conn) as http:
            token = await login(http, s.base, "clerk-load")
            started = time.monotonic()
            chats = [chat_session(http, s.base, stats, self.questions, a.turns, random.Random(rng.random())) for _ in range(a.sessions)]
            uploads = [upload(http, s.base, token, self.cards[i % len(self.cards)], stats) for i in range(a.uploads)]
            await asyncio.wait_for(asyncio.gather(*chats, *uploads), timeout=a.timeout)
            wall = time.monotonic() - started
        s.stop()
        self.report.append(f"a. load: {a.sessions} chat sessions × {a.turns} turns (chat and SSE) + {a.uploads} uploads at once")
        self.report += stats.lines(wall)
        errors = stats.errors()
        self.report.append(f"  errors: {dict(errors) or 0}; deliberate 429/503: {stats.deliberate()}")
        self.check("load", not errors, f"errors {dict(errors)}")

    async def rebuild(self) -> None:
        a = self.args
        s = self.server("rebuild")
        await s.start()
        stats = Stats()
        conn = aiohttp.TCPConnector(limit=0)
        generations = []
        async with aiohttp.ClientSession(connector=conn) as http:
            async with http.get(s.base + "/healthz") as r:
                before = (await r.json())["index_generation"]
            stop_at = time.monotonic() + a.rebuild_secs

            async def client(seed: int) -> None:
                rng = random.Random(seed)
                while time.monotonic() < stop_at:
                    await chat_session(http, s.base, stats, self.questions, 2, rng)

            async def rebuilds() -> None:
                for _ in range(a.rebuilds):
                    await asyncio.sleep(a.rebuild_secs / (a.rebuilds + 1))
                    out = await asyncio.to_thread(s.run, "index", "--json")
                    generations.append(json.loads(out)["generation"])

            started = time.monotonic()
            await asyncio.wait_for(asyncio.gather(*[client(i) for i in range(a.rebuild_clients)], rebuilds()), timeout=a.timeout)
            wall = time.monotonic() - started
            await asyncio.sleep(2.5)
            async with http.get(s.base + "/healthz") as r:
                after = (await r.json())["index_generation"]
        s.stop()
        self.report.append(f"b. index rebuild under load: {a.rebuild_clients} clients for {a.rebuild_secs} s, {len(generations)} rebuilds")
        self.report += stats.lines(wall)
        errors = stats.errors()
        self.report.append(f"  errors: {dict(errors) or 0}; index {before} → {after}")
        self.check("rebuild", not errors, f"requests dropped during rebuilds: {dict(errors)}")
        self.check("rebuild", bool(generations) and after == generations[-1], f"server on {after}, last build {generations[-1:]}")

    async def sigkill(self) -> None:
        a = self.args
        s = self.server("sigkill")
        await s.start()
        stats = Stats()
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            token = await login(http, s.base, "clerk-load")
            n = a.uploads // 2
            # Acknowledged: batches (202), queued for the workers.
            acknowledged: list[str] = []
            for k in range(0, n, 5):
                acknowledged += await batch(http, s.base, token, [self.cards[(k + i) % len(self.cards)] for i in range(5)], stats)
            # Under way: uploads read at once, the kill cuts them (not acknowledged).
            under_way = [asyncio.create_task(upload(http, s.base, token, self.cards[i % len(self.cards)], stats)) for i in range(n)]
            # Kill once some jobs are done and others are being read.
            waited = time.monotonic()
            while time.monotonic() - waited < 120:
                states = await job_states(http, s.base, token, acknowledged)
                if any(v != "pending" for v in states.values()):
                    break
                await asyncio.sleep(0.1)
            s.kill()
            killed = time.monotonic()
            cut = await asyncio.gather(*under_way)
            # Sync uploads answered before the kill are acknowledged too.
            acknowledged += [b["job_id"] for b in cut if b and "job_id" in b]
            left = sum(v == "pending" for v in states.values())
            startup = await s.start()
            restarted = time.monotonic()
            settled_at = None
            while time.monotonic() - restarted < a.timeout:
                states = await job_states(http, s.base, token, acknowledged)
                if all(v in ("done", "failed") for v in states.values()):
                    settled_at = time.monotonic()
                    break
                await asyncio.sleep(0.2)
        s.stop()
        counts = Counter(states.values())
        self.report.append(
            f"c. SIGKILL during verification: {len(acknowledged)} acknowledged jobs, {left} pending at the kill, "
            f"{sum(1 for b in cut if b is None)} uploads cut (not acknowledged)"
        )
        if settled_at:
            self.report.append(
                f"  recovery: restart to all settled {settled_at - restarted + startup:.1f} s "
                f"(start {startup:.1f} s, lease {LEASE_SECS} s); kill to all settled {settled_at - killed:.1f} s; states {dict(counts)}"
            )
        self.check("sigkill", settled_at is not None, f"jobs not settled: {dict(counts)}")
        self.check("sigkill", set(counts) <= {"done", "failed"}, f"states {dict(counts)}")

    async def sigterm(self) -> None:
        a = self.args
        s = self.server("sigterm")
        await s.start()
        stats = Stats()
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            token = await login(http, s.base, "clerk-load")
            queued = await batch(http, s.base, token, [self.cards[i % len(self.cards)] for i in range(10)], stats)
            rng = random.Random(3)
            under_way = [asyncio.create_task(upload(http, s.base, token, self.cards[i % len(self.cards)], stats)) for i in range(5)]
            under_way += [asyncio.create_task(chat_session(http, s.base, stats, self.questions, 1, random.Random(rng.random()))) for _ in range(50)]
            await asyncio.sleep(0.3)
            s.terminate()
            code, took = await s.wait_exit(DEADLINE_SECS + 10)
            await asyncio.gather(*under_way)
            startup = await s.start()
            restarted = time.monotonic()
            settled = None
            while time.monotonic() - restarted < a.timeout:
                states = await job_states(http, s.base, token, queued)
                if all(v in ("done", "failed") for v in states.values()):
                    settled = time.monotonic() - restarted + startup
                    break
                await asyncio.sleep(0.2)
        s.stop()
        errors = stats.errors()
        self.report.append(f"d. SIGTERM with 50 chats, 5 uploads and a batch of 10 under way (deadline {DEADLINE_SECS} s)")
        self.report += stats.lines(took)
        self.report.append(
            f"  exit code {code} after {took:.1f} s; errors {dict(errors) or 0}; "
            f"batch settled {settled if settled is None else round(settled, 1)} s after the restart"
        )
        self.check("sigterm", code == 0, f"exit code {code}")
        self.check("sigterm", took <= DEADLINE_SECS + 2, f"exit took {took:.1f} s")
        self.check("sigterm", not errors, f"requests under way not answered: {dict(errors)}")
        self.check("sigterm", settled is not None, "batch not settled after restart")

    async def soak(self) -> None:
        a = self.args
        s = self.server("soak")
        await s.start()
        assert s.proc
        pid = s.proc.pid
        stats = Stats()
        done = 0
        marks: dict[str, float] = {}
        samples: list[tuple[int, float]] = []  # (uploads done, resident MB)
        finished = asyncio.Event()

        async def sampler() -> None:
            while not finished.is_set():
                samples.append((done, resident_mb(pid)))
                try:
                    await asyncio.wait_for(finished.wait(), timeout=0.2)
                except asyncio.TimeoutError:
                    pass

        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            token = await login(http, s.base, "clerk-load")
            marks["started"] = resident_mb(pid)
            queue = iter(range(a.soak_uploads))

            async def uploader() -> None:
                nonlocal done
                for i in queue:
                    await upload(http, s.base, token, self.cards[i % len(self.cards)], stats)
                    done += 1
                    if done in (1, 100):
                        marks[f"after {done}"] = resident_mb(pid)
                    if done % 50 == 0:
                        print(f"  soak: {done} uploads in {time.monotonic() - started:.0f} s, resident {resident_mb(pid):.0f} MB", flush=True)

            watch = asyncio.create_task(sampler())
            started = time.monotonic()
            await asyncio.wait_for(asyncio.gather(*[uploader() for _ in range(a.soak_concurrency)]), timeout=a.soak_timeout)
            wall = time.monotonic() - started
            finished.set()
            await watch
            marks[f"after {done}"] = resident_mb(pid)
            await asyncio.sleep(a.soak_idle_secs)
            marks[f"after {a.soak_idle_secs:g} s idle"] = resident_mb(pid)
        s.stop()
        peak = max(mb for _, mb in samples)
        base = marks.get("after 100")
        late = [mb for n, mb in samples if n >= 100]
        self.report.append(f"e. soak: {a.soak_uploads} verification uploads, {a.soak_concurrency} at a time")
        self.report += stats.lines(wall)
        self.report.append("  resident memory: " + ", ".join(f"{k} {v:.0f} MB" for k, v in marks.items()) + f"; maximum {peak:.0f} MB")
        # Every 100 uploads: the highest resident memory seen in that stretch.
        steps = []
        for k in range(0, a.soak_uploads, 100):
            part = [mb for n, mb in samples if k <= n < k + 100]
            if part:
                steps.append(f"{k + 100}: {max(part):.0f}")
        self.report.append("  maximum per 100 uploads (MB): " + ", ".join(steps))
        errors = stats.errors()
        self.report.append(f"  errors: {dict(errors) or 0}; deliberate 429/503: {stats.deliberate()}")
        self.check("soak", not errors, f"errors {dict(errors)}")
        self.check("soak", peak < a.soak_limit_mb, f"resident memory reached {peak:.0f} MB (limit {a.soak_limit_mb} MB)")
        if base is not None and late:
            drift = max(abs(mb - base) for mb in late)
            self.report.append(f"  after the first 100: within {drift:.0f} MB of {base:.0f} MB (allowed {a.soak_drift_mb} MB)")
            self.check("soak", drift <= a.soak_drift_mb, f"resident memory moved {drift:.0f} MB from its level after 100 uploads")


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", type=Path, required=True)
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--specimens", type=Path, required=True)
    ap.add_argument("--repo", type=Path, default=Path(__file__).resolve().parent.parent)
    ap.add_argument("--sessions", type=int, default=200)
    ap.add_argument("--turns", type=int, default=3)
    ap.add_argument("--uploads", type=int, default=20)
    ap.add_argument("--rebuild-clients", type=int, default=50)
    ap.add_argument("--rebuild-secs", type=float, default=20)
    ap.add_argument("--rebuilds", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=300, help="seconds any one scenario may take")
    ap.add_argument("--soak-uploads", type=int, default=1000)
    ap.add_argument("--soak-concurrency", type=int, default=8)
    ap.add_argument("--soak-limit-mb", type=float, default=500)
    ap.add_argument("--soak-drift-mb", type=float, default=50)
    ap.add_argument("--soak-idle-secs", type=float, default=30)
    ap.add_argument("--soak-timeout", type=float, default=3600, help="seconds the soak's uploads may take")
    ap.add_argument("--only", default="load,rebuild,sigkill,sigterm", help="comma-separated: load, rebuild, sigkill, sigterm, soak")
    args = ap.parse_args()
    run = Run(args)
    for name in args.only.split(","):
        try:
            await getattr(run, name)()
        except Exception as e:  # a scenario that breaks is a failed scenario, reported
            run.failed.append(f"{name}: {type(e).__name__}: {e}")
            run.report.append(f"{name}: FAILED with {type(e).__name__}: {e}")
        print("\n".join(run.report), flush=True)
        run.report.clear()
    if run.failed:
        print("\nFAILED:\n  " + "\n  ".join(run.failed))
        return 1
    print("\nall scenarios passed")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

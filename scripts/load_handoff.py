#!/usr/bin/env python3
"""Live handoff under load against a real `xiaoban serve` on 127.0.0.1 (run by
scripts/load_handoff.sh).

  1. CITIZENS citizens ask for a person at once and wait, each with the event stream
     (`GET /api/v1/chat/{session}/events`) open.
  2. AGENTS agents sign in and work through the queue: claim (409: someone was faster, take the
     next), ROUNDS exchanges (the agent writes, the citizen's stream receives it; the citizen
     writes, the agent sees it in the conversation), close.
  3. kill: a last group of conversations is mid-exchange when the server gets SIGKILL; it is
     restarted on the same port and data, and every message that had been acknowledged (200)
     must be in the conversation afterwards.

Prints the delivery latencies (agent → citizen's stream, citizen → agent's view: p50/p99/max),
queue figures, status counts and lost messages; exits non-zero when a message is lost or a
request fails other than with a deliberate 409. Bounded: every request and wait has a timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp

PASSWORD = "load test password"
METRICS_TOKEN = "load-metrics-token"
TIMEOUT = aiohttp.ClientTimeout(total=30)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, max(0, round(p / 100 * (len(v) - 1))))]


class Server:
    def __init__(self, binary: str, data: Path, config: Path, port: int) -> None:
        self.binary, self.data, self.config, self.port = binary, data, config, port
        self.proc: subprocess.Popen | None = None

    def cli(self, *args: str, stdin: str | None = None) -> None:
        subprocess.run(
            [self.binary, "--config", str(self.config), "--data-dir", str(self.data), *args],
            input=stdin, text=True, check=True, stdout=subprocess.DEVNULL, timeout=120,
            stderr=sys.stderr,
        )

    async def start(self) -> None:
        log = open(self.data / "server.log", "ab")
        self.proc = subprocess.Popen(
            [self.binary, "--config", str(self.config), "--data-dir", str(self.data), "serve",
             "--listen", f"127.0.0.1:{self.port}", "--log-format", "json"],
            stdout=subprocess.DEVNULL, stderr=log,
        )
        deadline = time.monotonic() + 120
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as s:
            while time.monotonic() < deadline:
                try:
                    async with s.get(self.url("/healthz")) as r:
                        if r.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                if self.proc.poll() is not None:
                    raise SystemExit("xiaoban exited before listening; see server.log")
                await asyncio.sleep(0.1)
        raise SystemExit("xiaoban did not answer /healthz within 120 s")

    def kill(self) -> None:
        assert self.proc
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


class Run:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.status: Counter = Counter()
        self.to_citizen: list[float] = []  # agent message → citizen's stream, seconds
        self.to_agent: list[float] = []  # citizen message → agent's view, seconds
        self.citizen_ack: list[float] = []  # citizen message → its 200, seconds
        self.sent_at: dict[str, float] = {}  # agent message text → time acknowledged
        self.acknowledged: dict[str, list[str]] = {}  # session → texts acknowledged
        self.positions: list[int] = []
        self.claim_conflicts = 0
        self.failures: list[str] = []
        self.sessions: dict[str, str] = {}  # handoff → the citizen's session

    def note(self, kind: str, status: int) -> None:
        self.status[f"{kind} {status}"] += 1

    async def post(self, s: aiohttp.ClientSession, kind: str, path: str, body: dict,
                   token: str | None = None, retry_until: float = 0.0) -> tuple[int, dict]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        while True:
            try:
                async with s.post(self.server.url(path), json=body, headers=headers) as r:
                    self.note(kind, r.status)
                    try:
                        data = await r.json(content_type=None)
                    except (json.JSONDecodeError, aiohttp.ContentTypeError):
                        data = {}
                    return r.status, data
            except (aiohttp.ClientError, asyncio.TimeoutError):
                if time.monotonic() >= retry_until:
                    self.note(kind, 0)
                    return 0, {}
                await asyncio.sleep(0.3)

    async def get(self, s: aiohttp.ClientSession, kind: str, path: str,
                  token: str | None = None, retry_until: float = 0.0) -> tuple[int, dict]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        while True:
            try:
                async with s.get(self.server.url(path), headers=headers) as r:
                    self.note(kind, r.status)
                    return r.status, await r.json(content_type=None)
            except (aiohttp.ClientError, asyncio.TimeoutError, json.JSONDecodeError):
                if time.monotonic() >= retry_until:
                    self.note(kind, 0)
                    return 0, {}
                await asyncio.sleep(0.3)

    async def citizen(self, s: aiohttp.ClientSession, done: asyncio.Event) -> str | None:
        status, v = await self.post(s, "ask", "/api/v1/chat", {"question": "转人工"})
        if status != 200 or v.get("handoff", {}).get("state") != "waiting":
            self.failures.append(f"ask: {status} {v.get('handoff')}")
            return None
        self.positions.append(v["handoff"]["position"])
        session = v["session_id"]
        asyncio.create_task(self.watch(s, session, done))
        return session

    async def watch(self, s: aiohttp.ClientSession, session: str, done: asyncio.Event) -> None:
        """The citizen's event stream: the arrival time of each agent message."""
        try:
            async with s.get(self.server.url(f"/api/v1/chat/{session}/events"),
                             timeout=aiohttp.ClientTimeout(total=None, sock_read=60)) as r:
                self.note("events", r.status)
                event = ""
                async for raw in r.content:
                    line = raw.decode().rstrip("\n")
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:") and event == "message":
                        text = json.loads(line[5:])["text"]
                        if text in self.sent_at:
                            self.to_citizen.append(time.monotonic() - self.sent_at[text])
                    elif line.startswith("data:") and event == "closed":
                        return
                    if done.is_set():
                        return
        except (aiohttp.ClientError, asyncio.TimeoutError):
            pass

    async def agent(self, s: aiohttp.ClientSession, name: str, rounds: int,
                    stop_after: int | None = None, retry_until: float = 0.0) -> int:
        status, v = await self.post(s, "login", "/api/v1/auth/login",
                                    {"username": name, "password": PASSWORD})
        if status != 200:
            self.failures.append(f"login {name}: {status}")
            return 0
        token = v["token"]
        served = 0
        while stop_after is None or served < stop_after:
            status, q = await self.get(s, "queue", "/api/v1/handoffs?state=waiting", token)
            waiting = q.get("handoffs", []) if status == 200 else []
            if not waiting:
                return served
            mine = None
            for h in waiting:
                status, _ = await self.post(s, "claim", f"/api/v1/handoffs/{h['id']}/claim", {}, token)
                if status == 200:
                    mine = h["id"]
                    break
                if status == 409:
                    self.claim_conflicts += 1
            if mine is None:
                continue
            await self.converse(s, token, mine, rounds, retry_until)
            served += 1
        return served

    async def converse(self, s: aiohttp.ClientSession, token: str, hid: str, rounds: int,
                       retry_until: float) -> None:
        await self.get(s, "detail", f"/api/v1/handoffs/{hid}", token, retry_until)
        session = self.sessions.get(hid)
        if session is None:
            self.failures.append(f"no session known for {hid[:8]}")
            return
        for r in range(rounds):
            text = f"agent {hid[:8]} round {r}"
            self.sent_at[text] = time.monotonic()
            status, line = await self.post(s, "agent message", f"/api/v1/handoffs/{hid}/messages",
                                           {"text": text}, token, retry_until)
            if status == 200:
                self.acknowledged.setdefault(hid, []).append(text)
            elif status != 0:
                self.failures.append(f"agent message {status}")
            reply = f"citizen {hid[:8]} round {r}"
            sent = time.monotonic()
            status, v = await self.post(s, "citizen message", "/api/v1/chat",
                                        {"question": reply, "session_id": session}, None, retry_until)
            if status != 200:
                if status != 0:
                    self.failures.append(f"citizen message {status}")
                continue
            self.acknowledged.setdefault(hid, []).append(reply)
            self.citizen_ack.append(time.monotonic() - sent)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                status, d = await self.get(s, "detail", f"/api/v1/handoffs/{hid}", token, retry_until)
                if status == 200 and any(l["text"] == reply for l in d["transcript"]):
                    self.to_agent.append(time.monotonic() - sent)
                    break
                await asyncio.sleep(0.1)
        await self.post(s, "close", f"/api/v1/handoffs/{hid}/close",
                        {"resolution": "answered"}, token, retry_until)

    async def verify(self, s: aiohttp.ClientSession) -> int:
        lost = 0
        for hid, texts in self.acknowledged.items():
            session = self.sessions.get(hid)
            status, m = await self.get(s, "verify", f"/api/v1/chat/{session}/messages")
            have = {l["text"] for l in m.get("messages", [])}
            missing = [t for t in texts if t not in have]
            if missing:
                lost += len(missing)
                self.failures.append(f"lost in {hid[:8]}: {missing}")
        return lost


async def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/debug/xiaoban")
    ap.add_argument("--citizens", type=int, default=100)
    ap.add_argument("--agents", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--kill-group", type=int, default=10, help="conversations under way at the SIGKILL")
    args = ap.parse_args()
    repo = Path(__file__).resolve().parent.parent
    os.chdir(repo)
    work = Path(tempfile.mkdtemp(prefix="xiaoban-handoff-load-", dir=repo / "target"))
    config = work / "load.toml"
    config.write_text(
        "fetch_models_on_start = false\n[generation]\nbackend = \"off\"\n"
        "[handoff]\nhours = \"always\"\nmax_waiting = 1000\n"
        "[limits]\nquestions_per_minute_per_address = 0\nquestions_per_minute_per_session = 0\n"
        "max_streams = 4096\nmax_streams_per_address = 4096\n"
        f"[metrics]\ntoken = \"{METRICS_TOKEN}\"\n"
    )
    data = work / "data"
    data.mkdir()
    server = Server(args.bin, data, config, free_port())
    for i in range(args.agents):
        server.cli("user", "add", f"agent-{i}", "--role", "agent", stdin=PASSWORD + "\n")
    await server.start()
    run = Run(server)
    code = 0
    conn = aiohttp.TCPConnector(limit=0)
    try:
        async with aiohttp.ClientSession(timeout=TIMEOUT, connector=conn) as s:
            # 1. Everyone asks at once; one agent signs in first so that there is someone on duty.
            status, v = await run.post(s, "login", "/api/v1/auth/login",
                                       {"username": "agent-0", "password": PASSWORD})
            done = asyncio.Event()
            t0 = time.monotonic()
            sessions = await asyncio.gather(*(run.citizen(s, done) for _ in range(args.citizens)))
            ask_secs = time.monotonic() - t0
            status, q = await run.get(s, "queue", "/api/v1/handoffs?state=waiting", v.get("token"))
            by_id = {}
            for h in q.get("handoffs", []):
                by_id[h["id"]] = h
            # Map handoffs to sessions through each session's messages.
            for session in filter(None, sessions):
                _, m = await run.get(s, "messages", f"/api/v1/chat/{session}/messages")
                hid = (m.get("handoff") or {}).get("id")
                if hid:
                    run.sessions[hid] = session
            waiting = len(by_id)
            metrics_text = ""
            async with s.get(server.url("/metrics"),
                             headers={"Authorization": f"Bearer {METRICS_TOKEN}"}) as r:
                metrics_text = await r.text()
            gauge = next((l.split()[-1] for l in metrics_text.splitlines()
                          if l.startswith("xiaoban_handoff_waiting ")), "?")
            # 2. The agents work through all but the last group.
            keep = args.kill_group
            per_agent = max(0, (len(run.sessions) - keep)) // args.agents
            t1 = time.monotonic()
            served = await asyncio.gather(*(run.agent(s, f"agent-{i}", args.rounds, per_agent)
                                            for i in range(args.agents)))
            work_secs = time.monotonic() - t1
            # 3. The last group is mid-conversation when the server is killed and restarted.
            steady = (len(run.to_citizen), len(run.to_agent), len(run.citizen_ack))
            retry_until = time.monotonic() + 90
            group = asyncio.gather(*(run.agent(s, f"agent-{i}", args.rounds + 3, 1, retry_until)
                                     for i in range(min(args.agents, keep))))
            await asyncio.sleep(2.0)
            killed = time.monotonic()
            server.kill()
            await server.start()
            restart_secs = time.monotonic() - killed
            served_kill = await group
            done.set()
            lost = await run.verify(s)
    finally:
        server.stop()
    bad = {k: n for k, n in run.status.items()
           if not (k.endswith(" 200") or k == "claim 409" or k.endswith(" 0"))}
    print("handoff load (127.0.0.1, debug build unless --bin says otherwise)")
    print(f"  citizens asking at once: {args.citizens} in {ask_secs:.2f} s; waiting after: {waiting} "
          f"(gauge {gauge}); positions {min(run.positions, default=0)}–{max(run.positions, default=0)}")
    print(f"  agents: {args.agents}; conversations served {sum(served)} in {work_secs:.1f} s "
          f"+ {sum(served_kill)} across the SIGKILL; claim conflicts (409) {run.claim_conflicts}")
    for phase, cut in (("steady", lambda v, n: v[:n]), ("across the SIGKILL", lambda v, n: v[n:])):
        print(f"  {phase}:")
        for (name, v), n in zip((("agent → citizen's stream", run.to_citizen),
                                 ("citizen → agent's view", run.to_agent),
                                 ("citizen's message acknowledged", run.citizen_ack)), steady):
            v = cut(v, n)
            print(f"    {name}: n={len(v)} p50={pct(v, 50)*1000:.0f} ms p99={pct(v, 99)*1000:.0f} ms "
                  f"max={max(v, default=float('nan'))*1000:.0f} ms")
    print(f"  SIGKILL → answering again: {restart_secs:.1f} s; acknowledged messages checked: "
          f"{sum(len(t) for t in run.acknowledged.values())}, lost: {lost}")
    print(f"  statuses: {dict(sorted(run.status.items()))}")
    if bad or lost or run.failures:
        print(f"  FAILED: unexpected statuses {bad}; {run.failures[:10]}")
        code = 1
    shutil.rmtree(work, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

"""Fan-out clients for `make bench`: N WebSocket and M SSE clients in one asyncio
process, recording when each client receives the events it waits for.

Prints one JSON object: per-client delays (seconds) from the server's own event
timestamp to arrival, for the WebSocket job_started / job_completed broadcasts and
the SSE complete event."""
import asyncio
import base64
import json
import os
import sys
import time

HOST = "127.0.0.1"


async def ws_client(port, ready, results, done_event):
    reader, writer = await asyncio.open_connection(HOST, port, limit=1 << 22)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write((f"GET /ws/queue HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n").encode())
    await writer.drain()
    await reader.readuntil(b"\r\n\r\n")
    ready.append(1)
    try:
        while True:
            head = await reader.readexactly(2)
            n = head[1] & 0x7F
            if n == 126:
                n = int.from_bytes(await reader.readexactly(2), "big")
            elif n == 127:
                n = int.from_bytes(await reader.readexactly(8), "big")
            payload = await reader.readexactly(n)
            arrived = time.time()
            if head[0] & 0x0F != 1:
                continue
            if b'"job_started"' in payload[:40]:
                m = json.loads(payload)
                results["ws_started"].append(arrived - m["data"]["started_at"])
            elif b'"job_completed"' in payload[:40]:
                m = json.loads(payload)
                results["ws_completed_at"].append((arrived, m["data"]["duration"]))
                done_event.set()
                return
    finally:
        writer.close()


async def sse_client(port, job_id, ready, results):
    reader, writer = await asyncio.open_connection(HOST, port, limit=1 << 22)
    writer.write(f"GET /api/jobs/{job_id}/progress HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    await reader.readuntil(b"\r\n\r\n")
    ready.append(1)
    event = None
    try:
        while True:
            line = await reader.readline()
            if not line:
                return
            arrived = time.time()
            if line.startswith(b"event: "):
                event = line[7:].strip()
            elif line.startswith(b"data: ") and event == b"status":
                results["sse_started_at"].append(json.loads(line[6:]).get("started_at"))
            elif line.startswith(b"data: ") and event == b"complete":
                results["sse_completed_at"].append((arrived, json.loads(line[6:])["duration"]))
                return
    finally:
        writer.close()


async def main():
    port, ws_count, sse_count, job_id = (int(a) for a in sys.argv[1:5])
    results = {"ws_started": [], "ws_completed_at": [], "sse_started_at": [], "sse_completed_at": []}
    ready = []
    done = asyncio.Event()
    tasks = []
    for i in range(ws_count):
        tasks.append(asyncio.create_task(ws_client(port, ready, results, done)))
        if i % 200 == 199:
            await asyncio.sleep(0.05)
    for i in range(sse_count):
        tasks.append(asyncio.create_task(sse_client(port, job_id, ready, results)))
        if i % 200 == 199:
            await asyncio.sleep(0.05)
    while len(ready) < ws_count + sse_count:
        await asyncio.sleep(0.05)
    print(json.dumps({"connected": len(ready)}), flush=True)
    # The driver now measures idle CPU and RSS, then starts the job; wait for it.
    await asyncio.wait(tasks, timeout=120)
    print(json.dumps(results), flush=True)


asyncio.run(main())

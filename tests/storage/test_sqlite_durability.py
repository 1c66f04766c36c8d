"""The SQLite store keeps what it acknowledged: across reopen, across a process crash, with several processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from plano_proxy.storage import StoredResponse, open_store
from plano_proxy.storage.writer import BackgroundWriter

_WRITE_THEN_CRASH = """
import asyncio, os, sys
from plano_proxy.storage import StoredResponse, StoredTurn, open_store
from plano_proxy.storage.writer import BackgroundWriter

async def main():
    store = await open_store("sqlite", path=sys.argv[1])
    writer = BackgroundWriter(store)
    await writer.start()
    prefix, count = sys.argv[2], int(sys.argv[3])
    previous = None
    for n in range(count):
        rid = f"{prefix}_{n}"
        item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": rid}]}
        await writer.submit(StoredTurn(StoredResponse(rid, None, 1, "completed", "m", previous_response_id=previous), [item], []))
        previous = rid
    print("acknowledged", flush=True)
    os._exit(0)  # no close, no stop: as if the process died right after the acknowledgement

asyncio.run(main())
"""


def run_writer(path: Path, prefix: str, count: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", _WRITE_THEN_CRASH, str(path), prefix, str(count)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


async def test_data_survives_closing_and_reopening(tmp_path: Path) -> None:
    """Responses, items and conversations written before close are all there after reopening the file."""
    path = str(tmp_path / "state.db")
    store = await open_store("sqlite", path=path)
    record = StoredResponse("resp_1", "key", 1, "completed", "m", events=[{"type": "response.completed"}])
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]}
    await store.save_turn(record, [item], [])
    await store.close()

    reopened = await open_store("sqlite", path=path)
    assert await reopened.get_response("resp_1", "key") == record
    history = await reopened.history("resp_1", "key")
    assert history is not None and history[0]["content"] == item["content"]
    await reopened.close()


async def test_acknowledged_turns_survive_a_process_that_dies(tmp_path: Path) -> None:
    """Turns whose submit returned are on disk even though the process exits without closing anything."""
    path = tmp_path / "state.db"
    process = run_writer(path, "resp", 20)
    out, err = process.communicate(timeout=60)
    assert out.strip() == b"acknowledged", err.decode()

    store = await open_store("sqlite", path=str(path))
    history = await store.history("resp_19", None)
    assert history is not None and [item["content"][0]["text"] for item in history] == [f"resp_{n}" for n in range(20)]
    await store.close()


async def test_several_processes_write_one_file_at_once(tmp_path: Path) -> None:
    """Three processes writing chains concurrently to one file all succeed and every turn is kept."""
    path = tmp_path / "state.db"
    store = await open_store("sqlite", path=str(path))  # the schema exists before they start
    processes = [run_writer(path, f"p{n}", 40) for n in range(3)]
    results = [process.communicate(timeout=120) for process in processes]
    assert [out.strip() for out, _ in results] == [b"acknowledged"] * 3, [err.decode() for _, err in results]
    for n in range(3):
        history = await store.history(f"p{n}_39", None)
        assert history is not None and len(history) == 40
    await store.close()


async def test_writer_commits_reach_a_second_process_view(tmp_path: Path) -> None:
    """A turn acknowledged through one store is readable at once through another opened on the same file."""
    path = str(tmp_path / "state.db")
    first, second = await open_store("sqlite", path=path), await open_store("sqlite", path=path)
    writer = BackgroundWriter(first)
    await writer.start()
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
    from plano_proxy.storage import StoredTurn

    await writer.submit(StoredTurn(StoredResponse("resp_1", None, 1, "completed", "m"), [item], []))
    assert await second.get_response("resp_1", None) is not None
    await writer.stop()
    await first.close()
    await second.close()

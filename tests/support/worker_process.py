"""A Python language worker process around the real worker library, for the real-worker test tier.

Run as ``python -m tests.support.worker_process --host 127.0.0.1 --port N`` from the app's
directory. It does what the worker's dispatcher does in Azure: connects to the host, announces
itself with ``StartStream``, hands each request to ``azure_functions_runtime`` (the worker library
the host loads for Python 3.13+, with the same indexing, validation, converters and invocation
code as the 3.11/3.12 worker), sends back its responses, and forwards every log record to the
host as ``RpcLog``. Indexing, validation, binding conversion and invocation are the library's own
code, untouched; only the transport is this file's (see tests/support/worker_wire.py).

``--preload MODULE`` (the tier's workers started ahead of the test that will use them): once the
worker has answered a ``FunctionLoadRequest`` for every function its metadata response listed, it
imports MODULE on a thread of its own, as the activity that needs it would (off the event loop),
only earlier. Nothing of indexing or loading changes; an activity that needs the module before the
import has finished waits for it (the import lock), and if the import fails the activity's own
import fails the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import os
import sys
import threading
import uuid
from collections.abc import Sequence
from typing import Any

from tests.support.worker_wire import encode, load_protos, read_message

# Log levels as the worker maps them onto RpcLog.Level.
_LEVELS = ((logging.CRITICAL, "Critical"), (logging.ERROR, "Error"), (logging.WARNING, "Warning"),
           (logging.INFO, "Information"), (logging.DEBUG, "Debug"))


class _Request:
    """What the library's handlers take: the message, and the worker's properties."""

    def __init__(self, request: Any, properties: dict[str, Any]) -> None:
        self.request = request
        self.properties = properties


class _HostLogHandler(logging.Handler):
    """Sends every record to the host as an ``RpcLog``, from any thread, as the worker does."""

    def __init__(self, loop: asyncio.AbstractEventLoop, outbox: asyncio.Queue[bytes]) -> None:
        super().__init__(logging.DEBUG)
        self.loop = loop
        self.outbox = outbox
        self.protos = load_protos()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level = next(name for number, name in _LEVELS if record.levelno >= number)
        except StopIteration:
            level = "Trace"
        try:
            text = self.format(record)
        except Exception:  # a record that cannot be formatted is still reported
            text = repr(record.msg)
        log = self.protos.RpcLog(
            category=record.name,
            level=getattr(self.protos.RpcLog, level),
            message=text,
            log_category=self.protos.RpcLog.System if record.name.startswith("azure") else self.protos.RpcLog.User,
        )
        message = self.protos.StreamingMessage(rpc_log=log)
        self.loop.call_soon_threadsafe(self.outbox.put_nowait, encode(message))


def _preload(modules: Sequence[str]) -> None:
    for module in modules:
        with contextlib.suppress(Exception):  # the function that imports it reports the error
            importlib.import_module(module)


async def serve(host: str, port: int, preload: Sequence[str] = ()) -> None:
    import azure_functions_runtime as worker

    protos = load_protos()
    reader, writer = await asyncio.open_connection(host, port)
    outbox: asyncio.Queue[bytes] = asyncio.Queue()
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    handler = _HostLogHandler(asyncio.get_running_loop(), outbox)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root.addHandler(handler)
    properties = {"host": f"{host}:{port}", "protos": protos}
    worker.start_threadpool_executor()

    async def send_all() -> None:
        while True:
            writer.write(await outbox.get())
            await writer.drain()

    listed: set[str] = set()  # function ids of the metadata response, until each is loaded

    def loaded(message: Any, response: Any, field: str) -> None:
        """Start the preload once every function listed has been loaded."""
        if field == "function_metadata_response":
            listed.update(entry.function_id for entry in response.function_metadata_results)
        elif field == "function_load_response" and listed:
            listed.discard(message.function_load_request.function_id)
            if not listed and preload:
                threading.Thread(target=_preload, args=(preload,), name="preload", daemon=True).start()

    async def answer(message: Any, handle: Any, field: str) -> None:
        response = await handle(_Request(message, properties))
        await asyncio.sleep(0)  # records logged during the request reach the host before its response
        reply = protos.StreamingMessage(request_id=message.request_id, **{field: response})
        outbox.put_nowait(encode(reply))
        loaded(message, response, field)

    handlers = {
        "worker_init_request": (worker.worker_init_request, "worker_init_response"),
        "functions_metadata_request": (worker.functions_metadata_request, "function_metadata_response"),
        "function_load_request": (worker.function_load_request, "function_load_response"),
        "invocation_request": (worker.invocation_request, "invocation_response"),
        "function_environment_reload_request": (
            worker.function_environment_reload_request,
            "function_environment_reload_response",
        ),
    }
    sender = asyncio.create_task(send_all())
    outbox.put_nowait(encode(protos.StreamingMessage(start_stream=protos.StartStream(worker_id=uuid.uuid4().hex))))
    running: set[asyncio.Task[None]] = set()
    try:
        while (message := await read_message(reader)) is not None:
            kind = message.WhichOneof("content")
            if kind == "worker_terminate":
                break
            if kind == "worker_status_request":
                reply = protos.StreamingMessage(
                    request_id=message.request_id, worker_status_response=protos.WorkerStatusResponse()
                )
                outbox.put_nowait(encode(reply))
                continue
            if kind not in handlers:
                logging.getLogger(__name__).warning("worker: no handler for %s", kind)
                continue
            handle, field = handlers[kind]
            if kind == "invocation_request":
                # Invocations run concurrently, as the worker runs them on its event loop.
                task = asyncio.create_task(answer(message, handle, field))
                running.add(task)
                task.add_done_callback(running.discard)
            else:
                await answer(message, handle, field)
    finally:
        for task in running:
            task.cancel()
        while not outbox.empty():
            writer.write(outbox.get_nowait())
        await writer.drain()
        sender.cancel()
        worker.stop_threadpool_executor()
        writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--preload", action="append", default=[], metavar="MODULE",
                        help="import MODULE on a thread once every function is loaded")
    args = parser.parse_args()
    sys.path.insert(0, os.getcwd())  # the app directory, as the worker puts the script root first
    asyncio.run(serve(args.host, args.port, args.preload))


if __name__ == "__main__":
    main()

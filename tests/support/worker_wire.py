"""The wire between the test host and the real Functions worker: protocol messages and framing.

The Functions host and its Python language worker talk gRPC (``FunctionRpc.proto``: one
bidirectional stream of ``StreamingMessage``). The generated message classes are Microsoft's own,
installed by ``scripts/test.sh`` from the ``azure-functions-runtime-v1`` wheel on PyPI (which ships
them as ``tests/protos``) into ``<venv>/function-rpc``; they are loaded here under the package name
``function_rpc`` so they cannot clash with this project's ``tests`` package.

Messages cross a loopback TCP socket as protobuf bytes with a 4-byte big-endian length prefix:
the same serialised ``StreamingMessage`` the gRPC stream would carry, without HTTP/2 around it.
"""

from __future__ import annotations

import asyncio
import importlib
import struct
import sys
import types
from functools import cache
from pathlib import Path
from typing import Any

PROTOS_PACKAGE = "function_rpc"
_LENGTH = struct.Struct(">I")
MAX_MESSAGE_BYTES = 128 * 1024 * 1024  # the host's default gRPC limit (2 GB) is far above this


def protos_dir(prefix: str | None = None) -> Path:
    """Where scripts/test.sh put the generated FunctionRpc modules for this virtualenv."""
    return Path(prefix or sys.prefix) / "function-rpc" / "tests" / "protos"


@cache
def load_protos() -> types.ModuleType:
    """The protocol's message classes as one namespace, like the worker's own ``protos`` module."""
    location = protos_dir()
    if not (location / "FunctionRpc_pb2.py").is_file():
        raise ModuleNotFoundError(
            f"FunctionRpc protocol stubs not found at {location}; run ./scripts/test.sh to install them"
        )
    package = types.ModuleType(PROTOS_PACKAGE)
    package.__path__ = [str(location)]
    sys.modules[PROTOS_PACKAGE] = package
    rpc = importlib.import_module(f"{PROTOS_PACKAGE}.FunctionRpc_pb2")
    nullable = importlib.import_module(f"{PROTOS_PACKAGE}.shared.NullableTypes_pb2")
    protos = types.ModuleType(f"{PROTOS_PACKAGE}.namespace")
    for module in (nullable, rpc):
        for name in dir(module):
            if not name.startswith("_"):
                setattr(protos, name, getattr(module, name))
    return protos


def encode(message: Any) -> bytes:
    data: bytes = message.SerializeToString()
    return _LENGTH.pack(len(data)) + data


async def read_message(reader: asyncio.StreamReader) -> Any | None:
    """The next ``StreamingMessage``; None when the other side closed the stream."""
    try:
        header = await reader.readexactly(_LENGTH.size)
    except asyncio.IncompleteReadError:
        return None
    (length,) = _LENGTH.unpack(header)
    if length > MAX_MESSAGE_BYTES:
        raise ValueError(f"message of {length} bytes exceeds {MAX_MESSAGE_BYTES}")
    message = load_protos().StreamingMessage()
    message.ParseFromString(await reader.readexactly(length))
    return message

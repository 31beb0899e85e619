"""The Blob Storage adapter against a real Azurite: bytes in and out, prefixes, the container made on
first use, and an unreachable account reported as `FilesUnavailable` naming no secret."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from magentic_tasks.files import FileMissing, FilesUnavailable, resolve_connection
from magentic_tasks.files._azure_blobs import AzureBlobStore, client_options
from tests.support.azurite import ACCOUNT_KEY, Azurite, connection_string, free_port


def store_for(azurite: Azurite) -> AzureBlobStore:
    connection = resolve_connection("TaskFiles", {"TaskFiles": azurite.connection_string})
    return AzureBlobStore.connect(connection, f"t{uuid.uuid4().hex[:20]}")


async def test_bytes_go_in_and_come_back_and_a_prefix_is_deleted_whole(azurite: Azurite, tmp_path: Path) -> None:
    store = store_for(azurite)  # a container that does not exist yet: made on the first upload
    try:
        data = bytes(range(256)) * 4096  # 1 MiB
        await store.upload("task-1/inputs/u/a.bin", data, content_type="application/octet-stream")
        source = tmp_path / "b.txt"
        source.write_bytes(b"hello")
        await store.upload_file("task-1/outputs/dir/b.txt", source, content_type="text/plain")
        await store.upload("task-2/outputs/c.txt", b"other task", content_type="text/plain")
        assert await store.download("task-1/inputs/u/a.bin") == data
        assert await store.download("task-1/outputs/dir/b.txt") == b"hello"
        assert await store.delete_prefix("task-1/") == 2
        with pytest.raises(FileMissing):
            await store.download("task-1/inputs/u/a.bin")
        assert await store.download("task-2/outputs/c.txt") == b"other task"
        await store.delete("task-2/outputs/c.txt")
        await store.delete("task-2/outputs/c.txt")  # deleting what is gone is nothing
    finally:
        await store.close()


async def test_an_unreachable_account_is_unavailable_within_seconds_and_names_no_key() -> None:
    dead = connection_string(free_port())  # nothing listens there
    store = AzureBlobStore.connect(resolve_connection("X", {"X": dead}), "task-files", client_options(1, 0))
    try:
        with pytest.raises(FilesUnavailable) as raised:
            await store.upload("t/inputs/a", b"x", content_type="text/plain")
        assert ACCOUNT_KEY not in str(raised.value) and "Blob Storage is unavailable" in str(raised.value)
        with pytest.raises(FilesUnavailable):
            await store.download("t/inputs/a")
        with pytest.raises(FilesUnavailable):
            await store.delete_prefix("t/")
    finally:
        await store.close()


def test_the_functions_connection_conventions() -> None:
    assert resolve_connection("AzureWebJobsStorage", {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}) \
        .connection_string == "UseDevelopmentStorage=true"
    by_account = resolve_connection("S", {"S__accountName": "acct", "S__credential": "managedidentity",
                                          "S__clientId": "id-1"})
    assert (by_account.account_url, by_account.client_id, by_account.managed_identity) == (
        "https://acct.blob.core.windows.net", "id-1", True)
    by_uri = resolve_connection("S", {"S__blobServiceUri": "https://acct.blob.core.windows.net/"})
    assert by_uri.account_url == "https://acct.blob.core.windows.net" and not by_uri.managed_identity
    with pytest.raises(ValueError, match="S__blobServiceUri or S__accountName"):
        resolve_connection("S", {"S": "  "})

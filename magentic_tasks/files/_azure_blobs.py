"""`BlobStore` on Azure Blob Storage (`azure.storage.blob.aio`): one container, created on first use.

Failures come back as `FilesUnavailable` naming the kind of failure (and the HTTP status), never
the account key or a SAS. The SDK retries a few times with a short backoff, so an unreachable
account is reported within seconds, not minutes.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from azure.core.exceptions import AzureError, HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import ContentSettings
from azure.storage.blob.aio import BlobServiceClient, ContainerClient, LinearRetry

from ._blobs import FileMissing, FilesUnavailable
from ._connection import BlobConnection, resolve_connection

# The SDK's own retries: three, a second apart (the storage SDK's default waits 15 s and more), so a
# caller hears of an outage within seconds.
RETRIES = 3
RETRY_SECONDS = 1
CLIENT_OPTIONS: dict[str, Any] = {"connection_timeout": 10, "read_timeout": 120}


def client_options(retries: int = RETRIES, seconds: int = RETRY_SECONDS) -> dict[str, Any]:
    return {**CLIENT_OPTIONS, "retry_policy": LinearRetry(backoff=seconds, random_jitter_range=0, retry_total=retries)}


class AzureBlobStore:
    """`BlobStore` over one container of an account."""

    def __init__(self, service: BlobServiceClient, container: str, *, credential: Any = None) -> None:
        self._service = service
        self._container: ContainerClient = service.get_container_client(container)
        self._credential = credential
        self._container_ready = False

    @classmethod
    def connect(
        cls, connection: BlobConnection, container: str, options: Mapping[str, Any] | None = None
    ) -> AzureBlobStore:
        kwargs = {**client_options(), **(options or {})}
        credential: Any = None
        if connection.connection_string is not None:
            service = BlobServiceClient.from_connection_string(connection.connection_string, **kwargs)
        else:
            from azure.identity.aio import DefaultAzureCredential, ManagedIdentityCredential

            assert connection.account_url is not None
            if connection.managed_identity:
                credential = ManagedIdentityCredential(client_id=connection.client_id)
            else:
                credential = DefaultAzureCredential(managed_identity_client_id=connection.client_id)
            service = BlobServiceClient(connection.account_url, credential=credential, **kwargs)
        return cls(service, container, credential=credential)

    async def upload(self, key: str, data: bytes, *, content_type: str) -> None:
        await self._put(key, data, content_type, len(data))

    async def upload_file(self, key: str, path: Path, *, content_type: str) -> None:
        with path.open("rb") as stream:
            await self._put(key, stream, content_type, os.fstat(stream.fileno()).st_size)

    async def _put(self, key: str, data: Any, content_type: str, length: int) -> None:
        settings = ContentSettings(content_type=content_type)
        for first in (True, False):
            try:
                await self._container.upload_blob(key, data, length=length, overwrite=True,
                                                  content_settings=settings)
                return
            except ResourceNotFoundError:
                if not first or self._container_ready:
                    raise FilesUnavailable("Blob Storage: the container is missing") from None
                await self._create_container()
                if hasattr(data, "seek"):
                    data.seek(0)
            except AzureError as error:
                raise _unavailable(error) from None

    async def _create_container(self) -> None:
        try:
            await self._container.create_container()
        except ResourceExistsError:
            pass
        except AzureError as error:
            raise _unavailable(error) from None
        self._container_ready = True

    async def download(self, key: str) -> bytes:
        return b"".join([chunk async for chunk in self.chunks(key)])

    async def chunks(self, key: str) -> AsyncIterator[bytes]:
        try:
            downloader = await self._container.download_blob(key)
            async for chunk in downloader.chunks():
                yield chunk
        except ResourceNotFoundError:
            raise FileMissing("Blob Storage: no such file") from None
        except AzureError as error:
            raise _unavailable(error) from None

    async def delete(self, key: str) -> None:
        try:
            await self._container.delete_blob(key)
        except ResourceNotFoundError:
            pass
        except AzureError as error:
            raise _unavailable(error) from None

    async def delete_prefix(self, prefix: str) -> int:
        deleted = 0
        try:
            names = [blob.name async for blob in self._container.list_blobs(name_starts_with=prefix)]
            for name in names:
                try:
                    await self._container.delete_blob(name)
                except ResourceNotFoundError:
                    continue
                deleted += 1
        except ResourceNotFoundError:  # no container: nothing was ever stored
            return deleted
        except AzureError as error:
            raise _unavailable(error) from None
        return deleted

    async def close(self) -> None:
        await self._container.close()
        await self._service.close()  # the container's pipeline is the service's: this closes the connections
        if self._credential is not None:
            await self._credential.close()


def open_blob_store(connection: str, container: str, environ: Mapping[str, str] | None = None) -> AzureBlobStore:
    """The store for the connection named `connection` (TASK_FILES_CONNECTION) in the app settings."""
    return AzureBlobStore.connect(resolve_connection(connection, os.environ if environ is None else environ),
                                  container)


def _unavailable(error: AzureError) -> FilesUnavailable:
    status = f" (HTTP {error.status_code})" if isinstance(error, HttpResponseError) and error.status_code else ""
    return FilesUnavailable(f"Blob Storage is unavailable: {type(error).__name__}{status}")

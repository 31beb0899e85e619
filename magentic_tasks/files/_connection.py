"""Which Blob Storage account the task files live in, by the Azure Functions connection conventions.

`TASK_FILES_CONNECTION` names a connection (default `AzureWebJobsStorage`, the app's own account):

- `<name>`: a connection string (`UseDevelopmentStorage=true` for Azurite, or one with a key or SAS);
- else `<name>__blobServiceUri` (or `<name>__serviceUri`) or `<name>__accountName`: the account for
  the app's identity (`<name>__credential=managedidentity`, `<name>__clientId` for a user-assigned
  identity), which needs *Storage Blob Data Contributor* on the container.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class BlobConnection:
    """A connection string, or an account URL and how to get a token for it."""

    connection_string: str | None = None
    account_url: str | None = None
    client_id: str | None = None
    managed_identity: bool = False


class ConnectionMissing(ValueError):
    """The named connection is not configured; the message names the settings, never a value."""


def resolve_connection(name: str, environ: Mapping[str, str]) -> BlobConnection:
    """The connection `name` stands for in `environ` (the app settings)."""

    def get(key: str) -> str | None:
        value = environ.get(key) or environ.get(key.replace("__", ":"))
        return value.strip() if value and value.strip() else None

    if (text := get(name)) is not None:
        return BlobConnection(connection_string=text)
    url = get(f"{name}__blobServiceUri") or get(f"{name}__serviceUri")
    if url is None and (account := get(f"{name}__accountName")) is not None:
        url = f"https://{account}.blob.core.windows.net"
    if url is None:
        raise ConnectionMissing(
            f"task files need a Blob Storage connection: set {name} (a connection string), "
            f"{name}__blobServiceUri or {name}__accountName (TASK_FILES_CONNECTION names it)"
        )
    credential = (get(f"{name}__credential") or "").lower()
    return BlobConnection(account_url=url.rstrip("/"), client_id=get(f"{name}__clientId"),
                          managed_identity=credential == "managedidentity")

"""Files for the team: attachments in, outputs back, kept in Azure Blob Storage.

No Azure Functions imports; the public names come from small private modules, one idea each:

- `_names`: safe names (`safe_name` for attachments, `safe_path` for outputs, `unique_names`);
- `_content_types`: the type a download is served as (never one a browser would run);
- `_uploads`: a request's attachments checked against the limits and decoded (`check_uploads`);
- `_blobs`: the `BlobStore` protocol the service and the run depend on, and each task's blob keys;
- `_connection`: the Functions connection conventions (`TASK_FILES_CONNECTION`);
- `_azure_blobs`: `BlobStore` on `azure.storage.blob.aio` (`open_blob_store`);
- `_fetch`: an attachment fetched by URL through `outbound.checked_session`, capped while streaming;
- `_staging`: attachments into the workspace's `inputs/`, and the task text that lists them;
- `_artifacts`: the workspace's outputs collected (no symlinks, no special files, limits, hashes).
"""

from ._artifacts import MAX_SCANNED, MAX_SKIPPED_LISTED, Collected, collect_outputs
from ._blobs import BlobStore, FileMissing, FilesUnavailable, fetched_key, inline_key, output_key, task_prefix
from ._connection import BlobConnection, ConnectionMissing, resolve_connection
from ._content_types import OCTET_STREAM, content_type_for
from ._fetch import Fetched, FetchFailed, fetch_to_file, url_policy
from ._names import MAX_NAME_BYTES, MAX_NAME_CHARS, MAX_PATH_CHARS, NameRefused, safe_name, safe_path, unique_names
from ._staging import FetchOptions, StagedInput, describe_inputs, download_to, file_digest, stage_inputs
from ._uploads import Attachment, FileLimits, Problem, check_uploads


def open_blob_store(connection: str, container: str) -> BlobStore:
    """The `BlobStore` of the connection TASK_FILES_CONNECTION names (azure-storage-blob is loaded now)."""
    from ._azure_blobs import open_blob_store as open_azure

    return open_azure(connection, container)


__all__ = [
    "MAX_NAME_BYTES",
    "MAX_NAME_CHARS",
    "MAX_PATH_CHARS",
    "MAX_SCANNED",
    "MAX_SKIPPED_LISTED",
    "OCTET_STREAM",
    "Attachment",
    "BlobConnection",
    "BlobStore",
    "Collected",
    "ConnectionMissing",
    "FetchFailed",
    "FetchOptions",
    "Fetched",
    "FileLimits",
    "FileMissing",
    "FilesUnavailable",
    "NameRefused",
    "Problem",
    "StagedInput",
    "check_uploads",
    "collect_outputs",
    "content_type_for",
    "describe_inputs",
    "download_to",
    "fetch_to_file",
    "fetched_key",
    "file_digest",
    "inline_key",
    "open_blob_store",
    "output_key",
    "resolve_connection",
    "safe_name",
    "safe_path",
    "stage_inputs",
    "task_prefix",
    "unique_names",
    "url_policy",
]

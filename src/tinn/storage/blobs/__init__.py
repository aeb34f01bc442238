"""Blob stores: a local directory, or an object store (S3, Azure Blob, GCS, memory) via obstore.

:func:`create_blob_store` picks the adapter from the URL in ``TINN_BLOB_URL``; the options in
``TINN_BLOB_OPTIONS`` go to obstore (see ``docs/blob-storage.md``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote, urlsplit

from obstore.store import MemoryStore, from_url

from tinn.storage.blobs.base import (
    BlobError,
    BlobInfo,
    BlobNotFound,
    BlobStore,
    BlobStream,
    BlobTooLarge,
    InvalidRange,
    iterate_bytes,
    read_all,
    validate_key,
    validate_prefix,
)
from tinn.storage.blobs.local import LocalBlobStore
from tinn.storage.blobs.objectstore import MAX_CONCURRENCY, PART_SIZE, ObjectStoreBlobStore

__all__ = [
    "BlobError",
    "BlobInfo",
    "BlobNotFound",
    "BlobStore",
    "BlobStream",
    "BlobTooLarge",
    "InvalidRange",
    "LocalBlobStore",
    "ObjectStoreBlobStore",
    "create_blob_store",
    "iterate_bytes",
    "read_all",
    "validate_key",
    "validate_prefix",
]

OBJECT_STORE_SCHEMES = frozenset({"s3", "az", "azure", "abfs", "abfss", "gs"})

# obstore takes these as HTTP client options, separately from the store's own configuration.
CLIENT_OPTIONS = frozenset(
    {
        "allow_http",
        "allow_invalid_certificates",
        "connect_timeout",
        "default_content_type",
        "http1_only",
        "http2_keep_alive_interval",
        "http2_keep_alive_timeout",
        "http2_keep_alive_while_idle",
        "http2_only",
        "pool_idle_timeout",
        "pool_max_idle_per_host",
        "proxy_ca_certificate",
        "proxy_excludes",
        "proxy_url",
        "randomize_addresses",
        "read_timeout",
        "root_certificate",
        "timeout",
        "user_agent",
    }
)
# Options Tinn itself reads (the rest go to obstore).
TINN_OPTIONS = frozenset({"part_size", "upload_concurrency"})
_STORE_KEY_PREFIXES = ("aws_", "azure_storage_", "azure_", "google_")

_SUPPORTED = (
    "file:///absolute/path, memory://, s3://bucket/prefix, az://container/prefix "
    "(also azure:// and abfs://) or gs://bucket/prefix"
)


def create_blob_store(url: str, options: Mapping[str, str] | None = None) -> BlobStore:
    """The blob store for ``url``; ``options`` configure object stores (credentials, endpoint, ...).

    Raises :class:`ValueError` for an unsupported URL or option.
    """
    options = dict(options or {})
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "file":
        _no_options(scheme, options)
        return LocalBlobStore(_file_url_path(url))
    if scheme == "memory":
        _no_options(scheme, options)
        if parts.netloc or parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError(f"a memory:// blob URL takes no bucket or path, got {url!r}")
        return ObjectStoreBlobStore(MemoryStore(), url="memory://")
    if scheme in OBJECT_STORE_SCHEMES:
        config, client, tinn = _split_options(options)
        try:
            # Keys and values are strings from the environment: obstore parses and checks them.
            store = from_url(url, config=cast(Any, config or None), client_options=cast(Any, client or None))
        except Exception as exc:
            raise ValueError(f"invalid {scheme}:// blob store configuration: {_first_line(exc)}") from exc
        except BaseException as exc:  # obstore panics (BaseException) on some misplaced keys
            if type(exc).__name__ != "PanicException":
                raise
            raise ValueError(f"invalid {scheme}:// blob store configuration: {_first_line(exc)}") from exc
        return ObjectStoreBlobStore(
            store,
            url=url,
            part_size=tinn.get("part_size", PART_SIZE),
            max_concurrency=tinn.get("upload_concurrency", MAX_CONCURRENCY),
        )
    shown = f"{parts.scheme!r}" if parts.scheme else "none"
    raise ValueError(f"unsupported blob store URL scheme {shown}: use {_SUPPORTED}")


def _file_url_path(url: str) -> Path:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
        raise ValueError(f"a file:// blob URL is file:///absolute/path, got {url!r}")
    path = Path(unquote(parts.path))
    if not parts.path.startswith("/") or not path.is_absolute():
        raise ValueError(f"a file:// blob URL needs an absolute path, got {url!r}")
    return path


def _no_options(scheme: str, options: Mapping[str, str]) -> None:
    if options:
        names = ", ".join(sorted(options))
        raise ValueError(f"{scheme}:// blob stores take no options (TINN_BLOB_OPTIONS has {names})")


def _split_options(options: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str], dict[str, int]]:
    config: dict[str, str] = {}
    client: dict[str, str] = {}
    tinn: dict[str, int] = {}
    for raw_key, value in options.items():
        key = raw_key.lower()
        bare = next((key[len(p) :] for p in _STORE_KEY_PREFIXES if key.startswith(p)), key)
        if key in TINN_OPTIONS:
            tinn[key] = _positive_int(raw_key, value)
        elif bare in CLIENT_OPTIONS:
            client[bare] = value
        else:
            config[key] = value
    return config, client, tinn


def _positive_int(key: str, value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number <= 0:
        raise ValueError(f"blob option {key!r} must be a positive whole number, got {value!r}")
    return number


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

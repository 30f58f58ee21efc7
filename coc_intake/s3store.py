"""An S3 bucket/prefix as a store (boto3), with the same interface and guarantees as ``LocalStore``.

Credentials, region and endpoint come from the standard AWS environment and config files (``AWS_ENDPOINT_URL``
points it at an S3-compatible server). Every object written asks for server-side encryption: AES256 by default,
``aws:kms`` with ``COC_S3_KMS_KEY_ID``. A PUT is atomic on S3, so a reader never sees half an object; claims use
conditional writes (``If-None-Match: *``), which S3 guarantees to succeed for one writer only.
"""

from __future__ import annotations

import builtins
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import botocore.config
import botocore.exceptions

from coc_intake.errors import ConfigError, TransientError
from coc_intake.settings import Settings
from coc_intake.store import Entry, Store

_TRANSIENT = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectionClosedError,
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.ConnectTimeoutError,
)
_TRANSIENT_CODES = {"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "Throttling", "503", "500"}


def parse_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` → (bucket, ``some/prefix/``)."""
    rest = uri[len("s3://"):]
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise ConfigError(f"{uri}: name the bucket, as s3://bucket/prefix")
    prefix = prefix.strip("/")
    return bucket, (prefix + "/" if prefix else "")


def _client(addressing_style: str) -> Any:
    # botocore's standard retry mode backs off and retries throttling and connection errors itself.
    config = botocore.config.Config(retries={"mode": "standard", "max_attempts": 5},
                                    s3={"addressing_style": addressing_style})
    return boto3.client("s3", config=config)


class S3Store(Store):
    def __init__(self, uri: str, client: Any = None, settings: Settings | None = None) -> None:
        """``settings`` (by default the environment's and the config file's) give the encryption key and the
        addressing style; boto3 still finds credentials, region and endpoint itself (``AWS_*``)."""
        self.uri = uri
        self.bucket, self.prefix = parse_uri(uri)
        settings = Settings.from_env() if settings is None else settings
        self.client = client or _client(settings.s3_addressing_style)
        kms = settings.s3_kms_key_id
        self.encryption: dict[str, str] = (
            {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms} if kms else {"ServerSideEncryption": "AES256"}
        )

    def describe(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{self.prefix}{key}"

    def _call(self, method: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, method)(Bucket=self.bucket, **kwargs)
        except _TRANSIENT as exc:
            raise TransientError(f"S3 did not answer ({type(exc).__name__}): {exc}") from exc
        except botocore.exceptions.ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _TRANSIENT_CODES:
                raise TransientError(f"S3 is busy ({code}); try again later") from exc
            if code in ("NoSuchBucket", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                raise ConfigError(f"{self.describe()}: {code}. Check the bucket name and the AWS credentials.") from exc
            raise

    def list(self, prefix: str = "", recursive: bool = False) -> builtins.list[str]:
        keys: builtins.list[str] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Prefix": self.prefix + prefix}
            if not recursive:
                kwargs["Delimiter"] = "/"
            if token:
                kwargs["ContinuationToken"] = token
            page = self._call("list_objects_v2", **kwargs)
            keys += [obj["Key"][len(self.prefix):] for obj in page.get("Contents", [])]
            if not page.get("IsTruncated"):
                return sorted(k for k in keys if k and not k.endswith("/"))
            token = page["NextContinuationToken"]

    def entries(self, prefix: str = "") -> builtins.list[Entry]:
        """The objects at this level, and its "folders": the common prefixes of keys with a ``/`` below it."""
        found: builtins.list[Entry] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Prefix": self.prefix + prefix, "Delimiter": "/"}
            if token:
                kwargs["ContinuationToken"] = token
            page = self._call("list_objects_v2", **kwargs)
            found += [Entry(obj["Key"][len(self.prefix):], "file") for obj in page.get("Contents", [])
                      if not obj["Key"].endswith("/")]
            found += [Entry(cp["Prefix"][len(self.prefix):].rstrip("/"), "folder")
                      for cp in page.get("CommonPrefixes", [])]
            if not page.get("IsTruncated"):
                return sorted((e for e in found if e.key), key=lambda e: e.key)
            token = page["NextContinuationToken"]

    def read(self, key: str) -> bytes:
        try:
            body: bytes = self._call("get_object", Key=self.prefix + key)["Body"].read()
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise FileNotFoundError(self.describe(key)) from exc
            raise
        return body

    def write(self, key: str, data: bytes) -> None:
        self._call("put_object", Key=self.prefix + key, Body=data, **self.encryption)

    def write_many(self, items: builtins.list[tuple[str, bytes]]) -> None:
        if not items:
            return
        with ThreadPoolExecutor(min(16, len(items))) as pool:
            list(pool.map(lambda kv: self.write(*kv), items))

    def create(self, key: str, data: bytes) -> bool:
        """Write only if no object has the key; False when another writer has it."""
        try:
            self._call("put_object", Key=self.prefix + key, Body=data, IfNoneMatch="*", **self.encryption)
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "ConditionalRequestConflict"):
                return False
            raise
        return True

    def exists(self, key: str) -> bool:
        try:
            self._call("head_object", Key=self.prefix + key)
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        self._call("delete_object", Key=self.prefix + key)

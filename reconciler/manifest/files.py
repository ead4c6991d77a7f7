"""Reading a manifest and the rule files it names (``sed_file``, ``json_file``), confined and bounded.

SPEC "Manifest safety":
- A manifest over ``MAX_MANIFEST_BYTES`` is refused before it is parsed (stat / ContentLength first,
  and never more than the limit + 1 bytes read whatever the size claimed).
- A rule file is named relative to the manifest and must stay inside the manifest's directory: for a
  local manifest after resolving symlinks, for ``s3://bucket/dir/m.yaml`` as an object under
  ``s3://bucket/dir/``, for stdin (and an inline Lambda manifest) under the current (task) directory.
  Absolute paths, ``..`` that climbs out, and anything but a regular file of at most
  ``MAX_RULE_FILE_BYTES`` are refused, without blocking (a FIFO) or reading without end (/dev/zero).
- Error messages name the reference and the reason, never a byte of the file's content: a rules
  file pointed at a credentials file must not echo it.
"""

from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from .._exceptions import ManifestError
from .yaml import MAX_MANIFEST_BYTES, MIB

MAX_RULE_FILE_BYTES = 64 * 1024  # SPEC: a sed_file / json_file is a regular file of at most 64 KiB
_S3 = "s3://"


class RuleFileError(ValueError):
    """A rule file cannot be used. The message names the reference and why, never its content."""


@dataclass(frozen=True)
class LocalDir:
    """Rule files are read from this directory (the manifest's, or the current one for stdin)."""

    directory: Path

    def describe(self, rel: str) -> str:
        return str(self.directory / rel)

    def read(self, rel: str) -> bytes:
        try:
            root = self.directory.resolve(strict=True)
            # resolve() follows every symlink, so the containment check sees the real target
            target = (root / rel).resolve(strict=True)
        except FileNotFoundError:
            raise RuleFileError("no such file") from None
        except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop (Python < 3.13)
            raise RuleFileError(f"cannot resolve it ({exc.__class__.__name__})") from None
        if not target.is_relative_to(root):
            raise RuleFileError("it resolves (through a symlink) to outside the manifest's directory")
        # O_NONBLOCK: opening a FIFO must not wait for a writer; O_NOFOLLOW: the resolved path has no
        # symlink left, so one appearing now is a swap and is refused. fstat decides on what was opened.
        flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
        try:
            fd = _open_beneath(root, target.relative_to(root).parts, flags)
        except OSError as exc:
            raise RuleFileError(f"cannot open it ({exc.__class__.__name__})") from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise RuleFileError("not a regular file")
            _check_size(info.st_size)
            return _read_fd(fd, MAX_RULE_FILE_BYTES + 1)
        except OSError as exc:
            raise RuleFileError(f"cannot read it ({exc.__class__.__name__})") from None
        finally:
            os.close(fd)


def _open_beneath(root: Path, parts: tuple[str, ...], flags: int) -> int:
    """Open ``root/parts...`` one directory at a time, each step relative to the last and refusing
    symlinks: a directory swapped for a symlink after the containment check cannot lead outside
    ``root`` (a path opened whole would follow it). Where ``dir_fd`` is not supported, the whole
    path is opened with ``flags`` (O_NOFOLLOW then guards the last step only)."""
    if os.open not in os.supports_dir_fd or not parts:
        return os.open(root.joinpath(*parts), flags)
    step = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(root, step)
    try:
        for part in parts[:-1]:
            nxt = os.open(part, step, dir_fd=fd)
            os.close(fd)
            fd = nxt
        return os.open(parts[-1], flags, dir_fd=fd)
    finally:
        os.close(fd)


@dataclass(eq=False)
class S3Prefix:
    """Rule files are objects under ``s3://bucket/prefix`` (the S3 manifest's own "directory")."""

    bucket: str
    prefix: str  # "" or ending in "/"
    client: Any = field(default=None, repr=False)  # boto3 S3 client, made on first use

    def describe(self, rel: str) -> str:
        return f"{_S3}{self.bucket}/{self.prefix}{rel}"

    def read(self, rel: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        if self.client is None:
            self.client = _s3_client()
        try:
            # A ranged GET: the object's size arrives in Content-Range before any of it is read.
            resp = self.client.get_object(Bucket=self.bucket, Key=self.prefix + rel,
                                          Range=f"bytes=0-{MAX_RULE_FILE_BYTES}")
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", "Error"))
            if code == "InvalidRange":  # S3's answer to a range on an empty object
                return b""
            raise RuleFileError(f"cannot read it ({'no such object' if code in ('NoSuchKey', '404') else code})") \
                from None
        except BotoCoreError as exc:
            raise RuleFileError(f"cannot read it ({exc.__class__.__name__})") from None
        body = resp["Body"]
        try:
            total = _total_size(resp)
            if total is not None:
                _check_size(total)
            return bytes(body.read(MAX_RULE_FILE_BYTES + 1))
        except (ClientError, BotoCoreError, OSError) as exc:
            raise RuleFileError(f"cannot read it ({exc.__class__.__name__})") from None
        finally:
            body.close()


RuleBase = LocalDir | S3Prefix


def rule_base(base: Path | LocalDir | S3Prefix | None) -> LocalDir | S3Prefix | None:
    """What ``manifest_from_object``'s ``base_dir`` means: a directory, a rule base, or none."""
    return LocalDir(base) if isinstance(base, Path) else base


def read_rule_file(ref: str, *, base: LocalDir | S3Prefix | None) -> str:
    """The UTF-8 text of rule file ``ref``, relative to ``base``. Raises RuleFileError (see module doc)."""
    if base is None:
        raise RuleFileError("a rule file needs a manifest on disk or in S3 to be relative to")
    rel = _relative(ref)
    data = base.read(rel)
    if len(data) > MAX_RULE_FILE_BYTES:  # it grew, or the size was not told: never keep more
        raise RuleFileError(f"larger than the limit of {MAX_RULE_FILE_BYTES // 1024} KiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RuleFileError(f"not UTF-8 text (byte {exc.start})") from None


def _relative(ref: str) -> str:
    """``ref`` normalised to a path inside its base ("a/./b" -> "a/b"), or RuleFileError."""
    if not ref or "\x00" in ref:
        raise RuleFileError("an empty path, or one with a NUL character")
    drive = len(ref) > 2 and ref[0].isalpha() and ref[1] == ":" and ref[2] in "/\\"  # C:/x or C:\x
    if ref.startswith(("/", "\\", "~")) or "://" in ref or drive:
        raise RuleFileError("an absolute path; give a path relative to the manifest, inside its directory")
    parts: list[str] = []
    for part in PurePosixPath(ref).parts:
        if part == "..":
            if not parts:
                raise RuleFileError("'..' leads out of the manifest's directory")
            parts.pop()
        elif part != ".":
            parts.append(part)
    if not parts:
        raise RuleFileError("names the manifest's directory, not a file")
    return "/".join(parts)


def _check_size(size: int) -> None:
    if size > MAX_RULE_FILE_BYTES:
        raise RuleFileError(f"{size:,} bytes; the limit is {MAX_RULE_FILE_BYTES // 1024} KiB")


def _total_size(resp: dict[str, Any]) -> int | None:
    """The object's full size from a ranged GET ("bytes 0-65536/123456"), else its ContentLength."""
    content_range = str(resp.get("ContentRange") or "")
    total = content_range.rpartition("/")[2]
    if total.isdigit():
        return int(total)
    length = resp.get("ContentLength")
    return int(length) if isinstance(length, int) else None


def _read_fd(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    left = limit
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _s3_client() -> Any:
    import boto3  # lazy: only S3-hosted manifests need it

    return boto3.client("s3")


# --- the manifest itself --------------------------------------------------------------------------


def read_manifest(location: str, *, stdin: Any = None) -> tuple[str, str, LocalDir | S3Prefix]:
    """(text, origin, rule base) of the manifest at a path, ``s3://bucket/key`` or ``-`` (stdin).

    Raises ManifestError when it cannot be read or is over ``MAX_MANIFEST_BYTES``.
    """
    if location == "-":
        # Text streams count characters: read one past the limit, then check the UTF-8 size.
        text = str((stdin or sys.stdin).read(MAX_MANIFEST_BYTES + 1))
        _check_manifest_size("<stdin>", len(text.encode("utf-8", "surrogatepass")))
        return text, "<stdin>", LocalDir(Path.cwd())
    if location.startswith(_S3):
        return _read_s3_manifest(location)
    path = Path(location)
    try:
        # A named pipe or /dev/fd/N (a shell's <(...)) is a fine manifest: the read is bounded, and
        # the size is checked first only where stat knows it.
        with path.open("rb") as f:
            info = os.fstat(f.fileno())
            if stat.S_ISREG(info.st_mode):
                _check_manifest_size(str(path), info.st_size)
            elif stat.S_ISDIR(info.st_mode):
                raise IsADirectoryError(location)
            data = _read_fd(f.fileno(), MAX_MANIFEST_BYTES + 1)  # in chunks: no 16 MiB buffer up front
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__  # the OS's words ("No such file or directory")
        raise ManifestError([f"{location}: cannot read the manifest: {reason}"]) from None
    _check_manifest_size(str(path), len(data))
    return _decode(data, str(path)), str(path), LocalDir(path.parent)


def _read_s3_manifest(uri: str) -> tuple[str, str, S3Prefix]:
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, _, key = uri[len(_S3):].partition("/")
    if not bucket or not key or key.endswith("/"):
        raise ManifestError([f"{uri}: an S3 manifest location is s3://bucket/key"])
    base = S3Prefix(bucket, key.rpartition("/")[0] + "/" if "/" in key else "", _s3_client())
    try:
        resp = base.client.get_object(Bucket=bucket, Key=key)
        body = resp["Body"]
        try:
            size = resp.get("ContentLength")
            if isinstance(size, int):
                _check_manifest_size(uri, size)  # before reading a byte of the body
            data = bytes(body.read(MAX_MANIFEST_BYTES + 1))
        finally:
            body.close()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "Error")
        raise ManifestError([f"{uri}: cannot read the manifest: {code}"]) from None
    except BotoCoreError as exc:
        raise ManifestError([f"{uri}: cannot read the manifest: {exc}"]) from None
    _check_manifest_size(uri, len(data))
    return _decode(data, uri), uri, base


def _check_manifest_size(origin: str, size: int) -> None:
    if size > MAX_MANIFEST_BYTES:
        raise ManifestError([f"{origin}: the manifest is over the limit of {MAX_MANIFEST_BYTES // MIB} MiB "
                             f"({size:,} bytes or more)"])


def _decode(data: bytes, origin: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError([f"{origin}: the manifest is not UTF-8 text (byte {exc.start})"]) from None

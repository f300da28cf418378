"""A recording folder: its layout, the writer that adds an exchange atomically, the reader.

Layout (``oir record --out DIR``)::

    DIR/index.json                  what the folder holds, one line per exchange (for people
                                    and tools; rewritten atomically after every exchange)
    DIR/exchanges/000001.json       one exchange: times, method, path, SOAPAction, operation,
                                    headers (masked), HTTP status, upstream status, outcome
    DIR/exchanges/000001.request.xml   the request body as sent (masked, decoded)
    DIR/exchanges/000001.response.xml  the response body as received (masked, decoded)
    DIR/.partial/                   bodies on their way in (emptied at start and stop)
    DIR/.next                       the next exchange number to hand out

An exchange exists once its ``.json`` does: bodies are streamed into ``.partial/``, masked
into a second file there, fsynced and moved into place, and the ``.json`` is written last
(temporary file, fsync, rename), so a recorder that is killed leaves whole exchanges or
nothing. Several recorders (or workers) may write one folder: numbers are handed out under
an exclusive lock on ``DIR/.lock``.

An exchange's number is taken when its request arrives (:meth:`RecordingWriter.reserve`),
not when its answer has gone out: a client that sends its next request as soon as it has
an answer may do so before the server has closed that answer, and the recording must
still tell the story in the order it was told. Numbers come from ``DIR/.next``, rewritten
atomically (the index's rewriting grows with the recording and is not on a request's
path); it is bumped before an exchange is written, so a number is never given twice, not
even after a recorder was killed mid-commit. A number taken by an exchange that is never
written (the recorder killed mid-exchange, a full disk) is skipped: numbers rise, and may
have gaps.
"""

from __future__ import annotations

import bisect
import contextlib
import fcntl
import gzip
import hashlib
import json
import os
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import IO, Any

from lxml import etree

from oir_adapter.contracts import SOAP11_ENV_NS, operation_for_element
from oir_adapter.recording.masking import BodyMasker, mask_header

FORMAT = "oir-recording/1"
INDEX = "index.json"
EXCHANGES = "exchanges"
PARTIAL = ".partial"
LOCK = ".lock"
NEXT = ".next"
_CHUNK = 64 * 1024


class RecordingError(Exception):
    """A folder that cannot be recorded into or read as a recording."""


def _write_atomically(path: Path, data: bytes, scratch: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=scratch, prefix=path.name + ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_index(path: Path) -> dict[str, Any]:
    """A recording's ``index.json``, checked to be one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RecordingError(f"{path} cannot be read: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise RecordingError(f"{path} is not an {FORMAT} index")
    return data


def _json(data: Any) -> bytes:
    return (json.dumps(data, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


# ---------------------------------------------------------------- writing

@dataclass
class Draft:
    """One exchange as the proxy saw it, before it is masked and written."""

    started: datetime
    method: str
    path: str
    query: str
    upstream_url: str
    request_headers: list[tuple[str, str]]
    request_raw: Path | None = None
    response_raw: Path | None = None
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    status: int | None = None  # what the client was answered
    upstream_status: int | None = None  # what the upstream answered (None: no answer)
    outcome: str = "ok"  # ok | upstream_unreachable | upstream_timeout | upstream_broke_off
    #                      | client_broke_off
    error: str | None = None
    elapsed_ms: float = 0.0  # request start to the last response byte relayed
    upstream_ms: float | None = None  # request start to the upstream's status line
    seq: int | None = None  # its number, taken when the request arrived (None: at commit)


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    lower = name.lower()
    return next((v for k, v in headers if k.lower() == lower), None)


def _decoded_chunks(raw: Path, coding: str | None) -> Iterator[bytes]:
    """The body's bytes without its Content-Encoding (gzip or deflate), chunk by chunk."""
    name = (coding or "identity").strip().lower()
    with raw.open("rb") as f:
        if name in ("identity", ""):
            while chunk := f.read(_CHUNK):
                yield chunk
            return
        if name in ("gzip", "x-gzip"):
            with gzip.GzipFile(fileobj=f) as g:
                while chunk := g.read(_CHUNK):
                    yield chunk
            return
        if name == "deflate":
            data = f.read(_CHUNK)
            inflater = zlib.decompressobj(zlib.MAX_WBITS)
            try:
                first = inflater.decompress(data)
            except zlib.error:  # raw deflate without the zlib wrapper, as some servers send
                inflater = zlib.decompressobj(-zlib.MAX_WBITS)
                first = inflater.decompress(data)
            yield first
            while chunk := f.read(_CHUNK):
                yield inflater.decompress(chunk)
            yield inflater.flush()
            return
    raise RecordingError(f"Content-Encoding {coding!r} cannot be read")


def _looks_utf16(head: bytes) -> bool:
    return head[:2] in (b"\xff\xfe", b"\xfe\xff") or (len(head) >= 4 and b"\x00" in head[:4])


@dataclass(frozen=True, slots=True)
class _Stored:
    size: int
    sha256: str | None
    secrets_masked: int
    note: str | None = None


class RecordingWriter:
    """Adds exchanges to a recording folder; see the module docstring for the layout."""

    def __init__(self, folder: Path, *, upstream: str, keep_cpr: bool = False,
                 mask_headers: tuple[str, ...] = ()) -> None:
        self.folder = folder
        self.upstream = upstream
        self.keep_cpr = keep_cpr
        self.mask_headers = mask_headers
        self.exchanges = folder / EXCHANGES
        self.partial_dir = folder / PARTIAL
        self.written = 0
        self._open()

    def _open(self) -> None:
        folder = self.folder
        if folder.exists() and not folder.is_dir():
            raise RecordingError(f"{folder} is a file, not a folder")
        index = folder / INDEX
        if folder.is_dir() and any(folder.iterdir()) and not index.is_file():
            raise RecordingError(f"{folder} is not empty and holds no recording "
                                 f"({INDEX} missing): record into a new or empty folder")
        try:
            self.exchanges.mkdir(parents=True, exist_ok=True)
            self.partial_dir.mkdir(exist_ok=True)
        except OSError as exc:
            raise RecordingError(f"cannot create {folder}: {exc.strerror or exc}") from None
        self.clean_partial()
        with self._locked():
            data = self._read_index()
            if data is None:
                now = datetime.now().astimezone().isoformat(timespec="milliseconds")
                data = {"format": FORMAT, "created": now, "updated": now,
                        "cpr_masked": not self.keep_cpr, "upstreams": [], "exchanges": []}
            elif bool(data.get("cpr_masked", True)) == self.keep_cpr:
                said = "masks" if data.get("cpr_masked", True) else "keeps"
                raise RecordingError(f"{folder} {said} CPR numbers: record into it with the "
                                     "same --keep-cpr setting, or into another folder")
            if self.upstream not in data["upstreams"]:
                data["upstreams"].append(self.upstream)
            self._write_index(data)
            self._write_next(max(self._read_next() or 0, _next_in_index(data)))

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with (self.folder / LOCK).open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read_index(self) -> dict[str, Any] | None:
        path = self.folder / INDEX
        return read_index(path) if path.is_file() else None

    def _write_index(self, data: dict[str, Any]) -> None:
        _write_atomically(self.folder / INDEX, _json(data), self.partial_dir)

    def clean_partial(self) -> None:
        """Remove what a stopped recorder left half-received (never a whole exchange)."""
        if self.partial_dir.is_dir():
            for leftover in self.partial_dir.iterdir():
                with contextlib.suppress(OSError):
                    leftover.unlink()

    def new_partial(self, kind: str) -> tuple[Path, IO[bytes]]:
        """A scratch file for a body as it streams in (``kind``: request or response)."""
        fd, name = tempfile.mkstemp(dir=self.partial_dir, prefix=f"{kind}.", suffix=".raw")
        return Path(name), os.fdopen(fd, "wb")

    def _read_next(self) -> int | None:
        try:
            text = (self.folder / NEXT).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return None
        return int(text) if text.isdigit() else None

    def _write_next(self, seq: int) -> None:
        _write_atomically(self.folder / NEXT, f"{seq}\n".encode("ascii"), self.partial_dir)

    def _take_number(self, data: dict[str, Any] | None = None) -> int:
        """The next free number, marked as taken (under the lock). Without a readable
        ``DIR/.next`` the index (``data``, or read) says where numbering stands."""
        seq = self._read_next()
        if seq is None:
            seq = _next_in_index(data or self._read_index() or {"exchanges": []})
        self._write_next(seq + 1)
        return seq

    def reserve(self) -> int:
        """Take the next exchange number now, as a request arrives (see the module
        docstring); :meth:`commit` writes the exchange under it later."""
        with self._locked():
            return self._take_number()

    # ------------------------------------------------------------ one exchange

    def _store(self, raw: Path | None, coding: str | None) -> tuple[_Stored, Path | None]:
        """Decode and mask one raw body into a scratch file (fsynced); ``None`` if none."""
        if raw is None:
            return _Stored(0, None, 0), None
        size = raw.stat().st_size
        if size == 0:
            return _Stored(0, None, 0), None
        fd, name = tempfile.mkstemp(dir=self.partial_dir, prefix="masked.", suffix=".xml")
        out = Path(name)
        masker = BodyMasker(keep_cpr=self.keep_cpr)
        digest = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as f:
                first = True
                for chunk in _decoded_chunks(raw, coding):
                    if first and chunk:
                        if _looks_utf16(chunk):
                            raise RecordingError("a UTF-16 body is not kept (it cannot be "
                                                 "masked)")
                        first = False
                    piece = masker.feed(chunk)
                    f.write(piece)
                    digest.update(piece)
                tail = masker.flush()
                f.write(tail)
                digest.update(tail)
                f.flush()
                os.fsync(f.fileno())
        except (RecordingError, OSError, EOFError, zlib.error) as exc:
            out.unlink(missing_ok=True)
            note = str(exc) if isinstance(exc, RecordingError) else \
                f"the body could not be decoded ({exc}): not kept"
            return _Stored(size, None, 0, note), None
        return _Stored(size, digest.hexdigest(), masker.secrets), out

    def _headers(self, headers: list[tuple[str, str]]) -> list[list[str]]:
        return [[k, mask_header(k, v, keep_cpr=self.keep_cpr, extra=self.mask_headers)]
                for k, v in headers]

    def commit(self, draft: Draft) -> str:
        """Mask and write one exchange under the number it took on arrival (or the next
        one, if it took none); returns its id (``000001``…)."""
        try:
            request, request_tmp = self._store(
                draft.request_raw, _header(draft.request_headers, "Content-Encoding"))
            response, response_tmp = self._store(
                draft.response_raw, _header(draft.response_headers, "Content-Encoding"))
        finally:  # unmasked bytes go before the exchange appears
            for raw in (draft.request_raw, draft.response_raw):
                if raw is not None:
                    raw.unlink(missing_ok=True)
        try:
            with self._locked():
                data = self._read_index() or {"format": FORMAT, "exchanges": []}
                seq = self._take_number(data) if draft.seq is None else draft.seq
                ident = f"{seq:06d}"
                files: dict[str, str | None] = {"request": None, "response": None}
                for kind, tmp in (("request", request_tmp), ("response", response_tmp)):
                    if tmp is not None:
                        name = f"{ident}.{kind}.xml"
                        os.replace(tmp, self.exchanges / name)
                        files[kind] = name
                meta = self._meta(draft, ident, seq, request, response, files)
                _write_atomically(self.exchanges / f"{ident}.json", _json(meta),
                                  self.partial_dir)
                _fsync_dir(self.exchanges)
                # an exchange that arrived earlier may finish later: keep the index in order
                bisect.insort(data["exchanges"], _index_line(meta), key=lambda e: int(e["id"]))
                data["next_seq"] = max(int(data.get("next_seq") or 0), seq + 1)
                data["updated"] = meta["finished"]
                self._write_index(data)
        finally:
            for tmp in (request_tmp, response_tmp):
                if tmp is not None:
                    tmp.unlink(missing_ok=True)
        self.written += 1
        return ident

    def _meta(self, draft: Draft, ident: str, seq: int, request: _Stored, response: _Stored,
              files: dict[str, str | None]) -> dict[str, Any]:
        element = namespace = operation = None
        fault = False
        if files["request"]:
            element, namespace, _ = _body_head(self.exchanges / files["request"])
            known = operation_for_element(f"{{{namespace}}}{element}") if element else None
            operation = known[0].name if known else element
        if files["response"]:
            _op, _ns, fault = _body_head(self.exchanges / files["response"])
        finished = datetime.now().astimezone()
        soap_action = _header(draft.request_headers, "SOAPAction")

        def body(stored: _Stored, name: str | None, headers: list[tuple[str, str]]
                 ) -> dict[str, Any]:
            return {"file": name, "bytes_received": stored.size, "sha256": stored.sha256,
                    "content_type": _header(headers, "Content-Type"),
                    "content_encoding": _header(headers, "Content-Encoding"),
                    "secrets_masked": stored.secrets_masked, "note": stored.note,
                    "headers": self._headers(headers)}

        return {
            "id": ident, "seq": seq,
            "started": draft.started.isoformat(timespec="milliseconds"),
            "finished": finished.isoformat(timespec="milliseconds"),
            "elapsed_ms": round(draft.elapsed_ms, 3),
            "upstream_ms": None if draft.upstream_ms is None else round(draft.upstream_ms, 3),
            "method": draft.method, "path": draft.path, "query": draft.query,
            "upstream_url": draft.upstream_url,
            "soap_action": None if soap_action is None else soap_action.strip().strip('"'),
            "operation": operation, "element": element, "namespace": namespace,
            "status": draft.status, "upstream_status": draft.upstream_status,
            "outcome": draft.outcome, "error": draft.error, "fault": fault,
            "cpr_masked": not self.keep_cpr,
            "request": body(request, files["request"], draft.request_headers),
            "response": body(response, files["response"], draft.response_headers),
        }


def _next_in_index(data: dict[str, Any]) -> int:
    """The number after the last one an index has seen taken."""
    return int(data.get("next_seq") or len(data["exchanges"]) + 1)


def _index_line(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: meta[k] for k in ("id", "started", "elapsed_ms", "method", "path", "operation",
                                 "soap_action", "status", "upstream_status", "outcome", "fault")}


_ENV = f"{{{SOAP11_ENV_NS}}}"


def _body_head(path: Path) -> tuple[str | None, str | None, bool]:
    """``(local name, namespace, is a fault)`` of the first element in a SOAP Body, read
    without building the whole tree (a body may be large)."""
    try:
        depth_of_body = None
        depth = 0
        for event, el in etree.iterparse(str(path), events=("start", "end"),
                                         resolve_entities=False, no_network=True,
                                         load_dtd=False, huge_tree=True):
            if event == "end":
                depth -= 1
                continue
            depth += 1
            if el.tag == f"{_ENV}Body":
                depth_of_body = depth
            elif depth_of_body is not None and depth == depth_of_body + 1:
                q = etree.QName(el)
                return q.localname, q.namespace, el.tag == f"{_ENV}Fault"
    except etree.XMLSyntaxError:
        pass
    return None, None, False


# ---------------------------------------------------------------- reading

@dataclass(frozen=True)
class RecordedExchange:
    """One exchange of a recording, as its ``.json`` describes it; bodies read on demand."""

    folder: Path
    meta: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.meta["id"])

    @property
    def seq(self) -> int:
        return int(self.meta["seq"])

    @property
    def started(self) -> datetime:
        return datetime.fromisoformat(str(self.meta["started"]))

    @property
    def elapsed_ms(self) -> float:
        return float(self.meta.get("elapsed_ms") or 0.0)

    @property
    def operation(self) -> str | None:
        return self.meta.get("operation")

    @property
    def status(self) -> int | None:
        return self.meta.get("status")

    @property
    def outcome(self) -> str:
        return str(self.meta.get("outcome") or "ok")

    @property
    def where(self) -> str:
        """How a report points at this exchange."""
        return f"recorded exchange {self.id} ({EXCHANGES}/{self.id}.json)"

    @property
    def answered_by_upstream(self) -> bool:
        """The upstream answered, and the answer is kept whole."""
        return self.outcome == "ok" and bool(self.meta["response"].get("file"))

    def _read(self, kind: str) -> bytes | None:
        name = self.meta[kind].get("file")
        return None if not name else (self.folder / EXCHANGES / name).read_bytes()

    @cached_property
    def request(self) -> bytes | None:
        return self._read("request")

    @cached_property
    def response(self) -> bytes | None:
        return self._read("response")

    def response_header(self, name: str) -> str | None:
        lower = name.lower()
        return next((v for k, v in self.meta["response"].get("headers") or []
                     if k.lower() == lower), None)


@dataclass
class Recording:
    """A recording folder opened for reading (replay, judging)."""

    folder: Path
    index: dict[str, Any]
    exchanges: list[RecordedExchange]

    @property
    def cpr_masked(self) -> bool:
        return bool(self.index.get("cpr_masked", True))

    @classmethod
    def open(cls, folder: Path) -> Recording:
        index_path = folder / INDEX
        if not index_path.is_file():
            raise RecordingError(f"{folder} is not a recording ({INDEX} missing)")
        index = read_index(index_path)
        found = []
        for path in sorted((folder / EXCHANGES).glob("*.json")):
            try:
                meta = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise RecordingError(f"{path} cannot be read: {exc}") from None
            found.append(RecordedExchange(folder, meta))
        found.sort(key=lambda x: x.seq)
        return cls(folder, index, found)

"""What a recording may keep: secrets and CPR numbers masked while the bytes stream past.

A recording of real test traffic is evidence that gets mailed, archived and attached to
tickets, so it must not carry what lets somebody act as the caller or identify a citizen:

* **HTTP headers** that carry credentials (``Authorization``, cookies, API keys, anything
  named like a token, secret, password or SAML assertion) keep their name and, for
  ``Authorization``, the scheme: ``Basic ***``.
* **SOAP security elements** — WS-Security ``Password``, ``BinarySecurityToken`` and SAML
  ``Assertion``/``EncryptedAssertion`` — keep their start and end tag (so the message still
  shows *that* the caller authenticated, and how) with ``***`` as their whole content.
* **CPR numbers** (unless the recorder runs with ``--keep-cpr``): ten digits whose first
  six read as a birth date keep the date and the century digit, and the last three digits
  become ``000`` — ``0101701234`` is kept as ``0101701000``. The result is still a valid
  CPR number of the same person's birth date, so a masked recording still validates
  against the schemas and is judged by the same rules, and masking is the same every time,
  so a replayed request can be matched against the masked recording. PSRM's own ids are
  numbers too (``PSRM_NUMBER_ELEMENTS``: EFI claim ids, action ids, the fordringshaver
  id); one that is an element's whole content is an id, not a person, and is kept —
  masking it could make two claims one.

Bodies are masked as a stream, chunk by chunk, with a bounded carry between chunks, so a
message of any size is masked in constant memory (a secret element is dropped as it goes,
however long it is).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from ..model import CPR_IN_TEXT

MASK = "***"

#: Headers that are credentials whatever their value looks like.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie",
                            "x-api-key"})
#: A header whose name contains one of these is taken for a credential too.
_SECRET_WORDS = ("token", "secret", "password", "passwd", "api-key", "apikey", "saml",
                 "assertion", "credential", "session")
#: SOAP elements whose content is a secret (any namespace prefix).
SECRET_ELEMENTS = ("Password", "BinarySecurityToken", "Assertion", "EncryptedAssertion")

_CPR_BYTES = re.compile(CPR_IN_TEXT.pattern.encode("ascii"))
#: PSRM's numeric ids (xsd/psrm/MF.xsd): ten of their digits may read like a CPR number.
PSRM_NUMBER_ELEMENTS = ("DMIFordringEFIFordringID", "DMIFordringEFIHovedFordringID",
                        "EFIFordringID", "DMIFordringHaverID", "MFAktionID", "MFAktionIDRef")
#: The start tag of one of them, right before a number (any prefix, any attributes).
_ID_START_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(?:" +
                           "|".join(PSRM_NUMBER_ELEMENTS).encode("ascii") + rb")(?:\s[^<>]*)?>$")
#: How much of what was already emitted is kept to see that start tag.
_TAG_CONTEXT = 512
_DIGIT_OR_HYPHEN = frozenset(b"0123456789-")
#: A run of digits and hyphens longer than this at a chunk's end is cut anyway (a CPR
#: number is eleven characters at most; only a pathological body comes near this).
_MAX_HELD_RUN = 64


def mask_cprs_in_text(text: str) -> str:
    """``text`` with every CPR-looking number masked (hyphenated ones stay hyphenated)."""
    def one(m: re.Match[str]) -> str:
        sep = "-" if "-" in m.group(0) else ""
        return f"{m.group(1)}{sep}{m.group(2)[:1]}000"
    return CPR_IN_TEXT.sub(one, text)


def _mask_cpr_match(m: re.Match[bytes]) -> bytes:
    sep = b"-" if b"-" in m.group(0) else b""
    return m.group(1) + sep + m.group(2)[:1] + b"000"


def is_secret_header(name: str, extra: Iterable[str] = ()) -> bool:
    lower = name.strip().lower()
    return (lower in SECRET_HEADERS or lower in {e.lower() for e in extra}
            or any(word in lower for word in _SECRET_WORDS))


def mask_header(name: str, value: str, *, keep_cpr: bool = False,
                extra: Iterable[str] = ()) -> str:
    """A header value as a recording keeps it."""
    if is_secret_header(name, extra):
        scheme, sep, _rest = value.strip().partition(" ")
        if name.strip().lower() in ("authorization", "proxy-authorization") and sep \
                and scheme.isalpha():
            return f"{scheme} {MASK}"
        return MASK
    return value if keep_cpr else mask_cprs_in_text(value)


# ---------------------------------------------------------------- streaming body masks

def _is_psrm_id(text: bytes, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` is the whole content of a PSRM numeric-id element."""
    return text.startswith(b"</", end) and \
        _ID_START_TAG.search(text, max(0, start - _TAG_CONTEXT), start) is not None


class _CprMask:
    """Masks CPR numbers in a byte stream; holds back a trailing run of digits and
    hyphens (a number may continue in the next chunk) and remembers the end of what it let
    through, so a number split over two chunks is seen whole, a longer number is never
    mistaken for one, and the start tag in front of a number is seen (a PSRM id is kept)."""

    def __init__(self) -> None:
        self.held = b""
        self.before = b""  # the end of what was already emitted: context to look behind

    def _segment(self, data: bytes) -> bytes:
        if not data:
            return b""
        context = self.before
        text = context + data
        out: list[bytes] = []
        pos = 0
        for m in _CPR_BYTES.finditer(text):
            start, end = m.start() - len(context), m.end() - len(context)
            if start < 0 or _is_psrm_id(text, m.start(), m.end()):
                continue
            out.append(data[pos:start])
            out.append(_mask_cpr_match(m))
            pos = end
        out.append(data[pos:])
        self.before = text[-_TAG_CONTEXT:]
        return b"".join(out)

    def feed(self, data: bytes) -> bytes:
        buf = self.held + data
        cut = len(buf)
        limit = max(0, len(buf) - _MAX_HELD_RUN)
        while cut > limit and buf[cut - 1] in _DIGIT_OR_HYPHEN:
            cut -= 1
        self.held = buf[cut:]
        return self._segment(buf[:cut])

    def flush(self) -> bytes:
        held, self.held = self.held, b""
        return self._segment(held)


class _SecretMask:
    """Replaces the content of every secret element (``SECRET_ELEMENTS``, any prefix) by
    ``***``, nested elements of the same name included; start and end tags stay."""

    _TAG = re.compile(rb"<(/?)((?:[A-Za-z_][\w.-]*:)?(" +
                      "|".join(SECRET_ELEMENTS).encode("ascii") + rb"))(?=[\s/>])([^<>]*)>")
    #: A tag cannot be longer than this; a '<' further back than that is not a tag start.
    _MAX_TAG = 4096

    def __init__(self) -> None:
        self.buf = b""
        self.inside: bytes | None = None  # the qualified name of the open secret element
        self.depth = 0
        self.count = 0  # secret elements masked so far

    def _hold_from(self, data: bytes) -> int:
        """Where an unfinished tag may start at the end of ``data`` (kept for later)."""
        lt = data.rfind(b"<", max(0, len(data) - self._MAX_TAG))
        if lt != -1 and data.find(b">", lt) == -1:
            return lt
        return len(data)

    def feed(self, data: bytes, final: bool = False) -> bytes:
        buf = self.buf + data
        out: list[bytes] = []
        pos = 0
        while True:
            m = self._TAG.search(buf, pos)
            if m is None:
                break
            closing, qname, attrs = m.group(1) == b"/", m.group(2), m.group(4)
            self_closing = attrs.rstrip().endswith(b"/")
            if self.inside is None:
                if closing or self_closing:
                    out.append(buf[pos:m.end()])
                else:
                    out.append(buf[pos:m.end()] + MASK.encode("ascii"))
                    self.inside, self.depth = qname, 1
                    self.count += 1
                pos = m.end()
                continue
            if qname == self.inside and not self_closing:
                self.depth += -1 if closing else 1
                if self.depth == 0:
                    out.append(m.group(0))
                    self.inside = None
            pos = m.end()
        rest = buf[pos:]
        if final:
            self.buf = b""
            if self.inside is None:
                out.append(rest)
            return b"".join(out)
        hold = self._hold_from(rest)
        if self.inside is None:
            out.append(rest[:hold])
        self.buf = rest[hold:]
        return b"".join(out)

    def flush(self) -> bytes:
        return self.feed(b"", final=True)


class BodyMasker:
    """The masks a recording applies to one body, fed chunk by chunk.

    ``for piece in masker.stream(chunks): …`` or ``feed``/``flush`` by hand; ``secrets``
    counts the secret elements masked."""

    def __init__(self, *, keep_cpr: bool = False) -> None:
        self._secret = _SecretMask()
        self._cpr: _CprMask | None = None if keep_cpr else _CprMask()

    @property
    def secrets(self) -> int:
        return self._secret.count

    def feed(self, data: bytes) -> bytes:
        out = self._secret.feed(data)
        return self._cpr.feed(out) if self._cpr is not None else out

    def flush(self) -> bytes:
        out = self._secret.flush()
        if self._cpr is None:
            return out
        return self._cpr.feed(out) + self._cpr.flush()

    def stream(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            piece = self.feed(chunk)
            if piece:
                yield piece
        tail = self.flush()
        if tail:
            yield tail


def mask_body(data: bytes, *, keep_cpr: bool = False) -> bytes:
    """A whole body masked at once (a request to match against a masked recording)."""
    masker = BodyMasker(keep_cpr=keep_cpr)
    return masker.feed(data) + masker.flush()


"""Request bodies sent compressed (``Content-Encoding: gzip`` or ``deflate``).

Some SOAP stacks compress their requests (CXF's GZIP feature, .NET handlers). The body is
inflated here, before it is parsed, and never beyond the body limit: a few kilobytes of
gzip can inflate to gigabytes (a "zip bomb"), so inflating stops one byte past the limit
and the caller gets the same 413 as for a body sent that large. Any other coding is a 415
naming it; a body that is not what its header says is the caller's fault.
"""

from __future__ import annotations

import zlib

from emulator.soap.envelope import SoapFault

#: the codings we inflate, with zlib's window bits for each
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS,
          "deflate": zlib.MAX_WBITS}
SUPPORTED = ("identity", "gzip", "deflate")


def decode_body(data: bytes, coding: str | None, max_bytes: int) -> bytes:
    """``data`` as sent before its ``Content-Encoding``; raises :class:`SoapFault` (413 past
    ``max_bytes``, 415 for a coding we do not know, a Client fault for a broken stream)."""
    name = (coding or "").strip().lower()
    if name in ("", "identity"):
        return data
    wbits = _WBITS.get(name)
    if wbits is None:
        raise SoapFault("Client", f"Content-Encoding {name[:40]!r} is not supported; send the "
                                  f"body as {', '.join(SUPPORTED)}", http_status=415)
    try:
        return _inflate(data, wbits, max_bytes, name)
    except zlib.error:
        if name != "deflate":
            raise SoapFault("Client", f"the body is not valid {name} data "
                                      "(Content-Encoding says it is)") from None
    # HTTP's "deflate" is the zlib format, but some clients send a raw deflate stream
    try:
        return _inflate(data, -zlib.MAX_WBITS, max_bytes, name)
    except zlib.error:
        raise SoapFault("Client", "the body is not valid deflate data "
                                  "(Content-Encoding says it is)") from None


def _inflate(data: bytes, wbits: int, max_bytes: int, name: str) -> bytes:
    inflater = zlib.decompressobj(wbits)
    out = inflater.decompress(data, max_bytes + 1)
    if len(out) > max_bytes:
        raise SoapFault("Client", f"request body larger than {max_bytes} bytes once "
                                  f"inflated ({name})", http_status=413)
    # below the cap, decompress() has taken all the input and given all it can
    if not inflater.eof:
        raise SoapFault("Client", f"the {name} body ends before its stream does (truncated)")
    if inflater.unused_data:
        raise SoapFault("Client", f"bytes follow the end of the {name} stream")
    return out

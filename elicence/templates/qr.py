"""The licence QR code: the verification URL ``<base>/v#<seal>`` as two segments.

The URL part goes in byte mode and the seal text in alphanumeric mode (docs/formats.md §3):
about a fifth smaller than one byte-mode segment. Error correction M; a licence type must stay
within version 16. Invariant: the code decodes to exactly ``verification_url(base, seal)``.
"""

from __future__ import annotations

from typing import Any

import segno
from segno import consts

from elicence.errors import SealError

MAX_VERSION = 16
ERROR = "m"


def verification_url(public_base_url: str, seal: str) -> str:
    return f"{public_base_url.rstrip('/')}/v#{seal}"


def make_qr(
    public_base_url: str, seal: str, *, max_version: int = 40, mask: int | None = None
) -> segno.QRCode:
    """The QR code of a licence; raises :class:`SealError` if it would exceed ``max_version``.

    ``mask`` fixes the mask pattern (0-7) instead of trying all eight for the best score: any
    mask decodes, and the search costs five times the rest of the encoding (licence PDFs).
    """
    prefix = f"{public_base_url.rstrip('/')}/v#"
    try:
        segments: Any = [(prefix, consts.MODE_BYTE), (seal, consts.MODE_ALPHANUMERIC)]
        qr = segno.make_qr(  # segno's stubs say str, but it takes (text, mode) segments
            segments,
            error=ERROR,
            boost_error=False,
            mask=mask,
        )
    except (segno.DataOverflowError, ValueError) as e:
        raise SealError(f"the seal does not fit a QR code: {e}", field="seal") from e
    if qr.version > max_version:  # type: ignore[operator]
        raise SealError(
            f"the QR code needs version {qr.version}; at most {max_version} is allowed",
            field="seal",
        )
    return qr

"""Templates: the QR code of a dynamic presentation (EP1), as the holder's page shows it.

One alphanumeric segment (every character of ``EP1:`` + base32 is in the QR alphanumeric set) at
error correction L: the code lives on a screen, which is not scratched or soiled like paper, and
L keeps it at version 15 for the demo licences (M would need 17) so its modules stay large on a
phone. Invariant: the code decodes to exactly the presentation text.
"""

from __future__ import annotations

import io
from typing import Any

import segno
from segno import consts

from elicence.errors import PresentationError

ERROR = "l"
MAX_VERSION = 25


def presentation_qr(text: str) -> segno.QRCode:
    """The QR code of an EP1 text; raises :class:`PresentationError` past ``MAX_VERSION``."""
    try:
        segments: Any = [(text, consts.MODE_ALPHANUMERIC)]
        qr = segno.make_qr(segments, error=ERROR, boost_error=False)
    except (segno.DataOverflowError, ValueError) as e:
        raise PresentationError(f"does not fit a QR code: {e}", field="presentation") from e
    if qr.version > MAX_VERSION:  # type: ignore[operator]
        raise PresentationError(
            f"needs QR version {qr.version}; at most {MAX_VERSION} is shown", field="presentation"
        )
    return qr


def presentation_svg(text: str, *, scale: int = 4, title: str = "") -> bytes:
    """The presentation's QR code as an SVG document (dark on white, a 4-module quiet zone)."""
    out = io.BytesIO()
    presentation_qr(text).save(
        out, kind="svg", scale=scale, border=4, xmldecl=False, title=title or None
    )
    return out.getvalue()


def presentation_png(text: str, *, scale: int = 6) -> bytes:
    out = io.BytesIO()
    presentation_qr(text).save(out, kind="png", scale=scale, border=4)
    return out.getvalue()

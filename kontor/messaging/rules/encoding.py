"""SMS encoding and segmentation (3GPP TS 23.038 / 23.040), as pure functions.

GSM-7 when every character is in the GSM 03.38 basic table or its extension table (an extension
character costs two septets: ESC + the character); otherwise UCS-2, counted in UTF-16 code units so a
character outside the BMP (most emoji) costs two. One segment holds 160 septets / 70 units; a
concatenated message loses room to the UDH: 153 septets / 67 units per segment. A split never separates
an ESC pair or a surrogate pair, so `"".join(split(text)) == text` and every part is valid on its own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Encoding = Literal["gsm7", "ucs2"]

GSM7: Encoding = "gsm7"
UCS2: Encoding = "ucs2"

# The basic table, minus ESC (0x1B), which is not a character a person can type.
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = frozenset("\f^{}\\[~]|€")

SINGLE = {GSM7: 160, UCS2: 70}
MULTI = {GSM7: 153, UCS2: 67}


def detect(text: str) -> Encoding:
    """GSM-7 if every character fits the basic or extension table, else UCS-2."""
    for ch in text:
        if ch not in GSM_BASIC and ch not in GSM_EXTENSION:
            return UCS2
    return GSM7


def char_units(ch: str, encoding: Encoding) -> int:
    """Septets (GSM-7) or UTF-16 code units (UCS-2) one character takes."""
    if encoding == GSM7:
        return 2 if ch in GSM_EXTENSION else 1
    return 2 if ord(ch) > 0xFFFF else 1


def units(text: str, encoding: Encoding | None = None) -> int:
    encoding = encoding or detect(text)
    return sum(char_units(ch, encoding) for ch in text)


def split(text: str, encoding: Encoding | None = None) -> list[str]:
    """The parts the message is sent in (one part when it fits a single segment; [""] for "")."""
    encoding = encoding or detect(text)
    if units(text, encoding) <= SINGLE[encoding]:
        return [text]
    room = MULTI[encoding]
    parts: list[str] = []
    current: list[str] = []
    used = 0
    for ch in text:
        cost = char_units(ch, encoding)
        if used + cost > room:  # the pair goes whole into the next part
            parts.append("".join(current))
            current, used = [], 0
        current.append(ch)
        used += cost
    if current:
        parts.append("".join(current))
    return parts


def segments(text: str, encoding: Encoding | None = None) -> int:
    return len(split(text, encoding))


@dataclass(frozen=True)
class SmsInfo:
    encoding: Encoding
    characters: int
    units: int  # septets or UTF-16 code units
    segments: int
    per_segment: int  # room in each segment at this length
    remaining: int  # room left in the last segment

    @property
    def encoding_label(self) -> str:
        return "GSM-7" if self.encoding == GSM7 else "UCS-2 (Unicode)"


def analyse(text: str) -> SmsInfo:
    encoding = detect(text)
    parts = split(text, encoding)
    per = SINGLE[encoding] if len(parts) == 1 else MULTI[encoding]
    return SmsInfo(
        encoding=encoding,
        characters=len(text),
        units=units(text, encoding),
        segments=len(parts),
        per_segment=per,
        remaining=per - units(parts[-1], encoding),
    )

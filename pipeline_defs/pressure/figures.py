"""Human figures for messages: byte sizes in decimal units (1 MB = 1,000,000 bytes).

Errors and skip reasons quote these ("spill full: 1,200 MB + 12 MB > budget 1,200 MB"); the exact
byte counts always travel beside them as exception attributes or metadata. Sizes from 1 MB up to
100 GB stay in MB so that figures of one message are comparable at a glance.
"""

from __future__ import annotations


def format_bytes(n: float) -> str:
    """``n`` bytes as "512 B", "3.4 kB", "12 MB", "1,200 MB", "250 GB".

    Values of 10 units or more have no decimals; smaller ones have one.
    """
    magnitude = abs(n)
    if magnitude < 1e3:
        return f"{n:,.0f} B"
    if magnitude < 1e6:
        scale, unit = 1e3, "kB"
    elif magnitude < 1e11:
        scale, unit = 1e6, "MB"
    else:
        scale, unit = 1e9, "GB"
    value = n / scale
    return f"{value:,.0f} {unit}" if abs(value) >= 10 else f"{value:,.1f} {unit}"

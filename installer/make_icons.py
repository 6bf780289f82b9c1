"""Draws the application icon once (Qt, offscreen) and writes it for every platform:
``resources/icons/cio-desktop.png`` (Linux, 256 px), ``.ico`` (Windows) and ``.icns`` (macOS).

The .ico and .icns containers simply wrap PNG images (allowed since Windows Vista and
macOS 10.7), so no imaging library beyond Qt is needed. Run by hand when the design changes:
``QT_QPA_PLATFORM=offscreen python installer/make_icons.py``.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QGuiApplication, QImage, QLinearGradient, QPainter, QPen

ICONS = Path(__file__).resolve().parents[1] / "resources" / "icons"


def draw(size: int) -> bytes:
    img = QImage(size, size, QImage.Format.Format_ARGB32)
    img.fill(Qt.GlobalColor.transparent)
    p = QPainter(img)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    s = size / 256
    grad = QLinearGradient(0, 0, 0, size)
    grad.setColorAt(0, QColor("#1f4e79"))
    grad.setColorAt(1, QColor("#0b2540"))
    p.setBrush(grad)
    p.setPen(Qt.PenStyle.NoPen)
    p.drawRoundedRect(QRectF(8 * s, 8 * s, 240 * s, 240 * s), 44 * s, 44 * s)
    pen = QPen(QColor("#5fd38d"), 14 * s)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    p.setPen(pen)
    pts = [(40, 212), (90, 178), (130, 192), (180, 146), (216, 128)]
    for (x1, y1), (x2, y2) in zip(pts, pts[1:]):
        p.drawLine(int(x1 * s), int(y1 * s), int(x2 * s), int(y2 * s))
    p.setPen(QColor("white"))
    font = QFont("DejaVu Sans", max(6, int(64 * s)))
    font.setBold(True)
    p.setFont(font)
    p.drawText(QRectF(0, 20 * s, size, 100 * s), Qt.AlignmentFlag.AlignCenter, "CIO")
    p.end()
    buf = QByteArray()
    dev = QBuffer(buf)
    dev.open(QIODevice.OpenModeFlag.WriteOnly)
    img.save(dev, "PNG")
    return bytes(buf.data())


def ico(images: dict[int, bytes]) -> bytes:
    header = struct.pack("<HHH", 0, 1, len(images))
    offset = 6 + 16 * len(images)
    entries, blobs = b"", b""
    for size, data in sorted(images.items()):
        entries += struct.pack("<BBBBHHII", size % 256, size % 256, 0, 0, 1, 32, len(data), offset + len(blobs))
        blobs += data
    return header + entries + blobs


def icns(images: dict[int, bytes]) -> bytes:
    types = {32: b"ic11", 64: b"ic12", 128: b"ic07", 256: b"ic08"}
    body = b"".join(types[n] + struct.pack(">I", 8 + len(d)) + d for n, d in sorted(images.items()) if n in types)
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def main() -> int:
    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # painting needs one
    ICONS.mkdir(parents=True, exist_ok=True)
    images = {n: draw(n) for n in (16, 32, 48, 64, 128, 256)}
    (ICONS / "cio-desktop.png").write_bytes(images[256])
    (ICONS / "cio-desktop.ico").write_bytes(ico(images))
    (ICONS / "cio-desktop.icns").write_bytes(icns(images))
    print(f"icons written to {ICONS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
"""Writes python_fixture.hex: an inner message built with Python's plistlib
and gzip, independently of the Go code. Run from this folder:

    python3 make_python_fixture.py > python_fixture.hex

The expected Message is written out by hand in TestDecodePythonFixture.
"""
import gzip
import plistlib

key = "00" + bytes(range(32)).hex().upper()
sig = "81" + bytes(range(0xA0, 0xB4)).hex()
x = (
    '<html><body>'
    '<FILE name="photo &amp; co.jpg" width="640" height="480" datasize="12345" '
    'mime-type="image/jpeg" uti-type="public.jpeg" file-size="12345" message-part="0" '
    'decryption-key="' + key + '" mmcs-signature-hex="' + sig + '" '
    'mmcs-url="https://example.com/mmcs/abc?x=1&amp;y=2" mmcs-owner="owner-1"/>'
    '<FILE name="note.txt" width="0" height="0" datasize="5" mime-type="text/plain" '
    'uti-type="public.plain-text" file-size="5" message-part="1" inline-attachment="ia-0"/>'
    '<span message-part="2">h\u00e9llo \U0001F44B</span>'
    '</body></html>'
)
d = {
    "t": "h\u00e9llo \U0001F44B",
    "x": x,
    "p": ["mailto:alice@example.com", "tel:+15555550123"],
    "r": "6BA7B810-9DAD-11D1-80B4-00C04FD430C8",
    "gid": "A1B2C3D4-0000-4000-8000-000000000001",
    "pv": 0,
    "gv": "8",
    "v": "1",
    "iid": "com.apple.MobileSMS.expressivesend.impact",
    "ia-0": b"notes",
    "bid": "unknown key, ignored",
}
raw = plistlib.dumps(d, fmt=plistlib.FMT_BINARY)
print(gzip.compress(raw, mtime=0).hex())

#!/usr/bin/env python3
"""Independent generator of mmcs-attachment vectors (protocol.md section 3).

Written from the format description with Python's `cryptography` package and
hashlib, not from Sealpost's Go code, so the Go receiver is checked against a
second implementation. Run: python3 mmcs_vectors.py > ../mmcs_from_spec_python.json
"""
import hashlib
import json
import random

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

SALT = b"com.apple.XattrObjectSalt\x00com.apple.DataObjectSalt\x00"
CHUNK = 5 * 1024 * 1024

rng = random.Random(20261126)  # fixed seed: the vectors are reproducible


def encrypt(key, data):
    enc = Cipher(algorithms.AES(key), modes.CTR(b"\x00" * 16)).encryptor()
    return enc.update(data) + enc.finalize()


def vector(name, size, expect="ok", mutate=None):
    key = bytes(rng.getrandbits(8) for _ in range(32))
    plaintext = bytes(rng.getrandbits(8) for _ in range(size))
    encrypted = encrypt(key, plaintext)
    signature = b"\x81" + hashlib.sha1(SALT + encrypted).digest()
    chunks = [
        b"\x01" + hashlib.sha256(hashlib.sha256(encrypted[i:i + CHUNK]).digest()).digest()[:20]
        for i in range(0, len(encrypted), CHUNK)
    ]
    v = {
        "name": name,
        "producer": "spec-derived mmcs (Python cryptography + hashlib)",
        "expect": expect,
        "decryption_key_hex": (b"\x00" + key).hex().upper(),
        "plaintext_hex": plaintext.hex(),
        "encrypted_hex": encrypted.hex(),
        "mmcs_signature_hex": signature.hex(),
        "chunk_signatures_hex": [c.hex() for c in chunks],
        "file_size": size,
    }
    if mutate:
        mutate(v)
    return v


def flip_ciphertext(v):
    b = bytearray.fromhex(v["encrypted_hex"])
    b[len(b) // 2] ^= 0x01
    v["encrypted_hex"] = b.hex()


vectors = [
    vector("empty", 0),
    vector("one_byte", 1),
    vector("block_plus_one", 17),
    vector("photo_sized", 70000),
    vector("neg_ciphertext_flipped", 4096, "signature_invalid", flip_ciphertext),
]
print(json.dumps({"scheme": "mmcs-attachment", "vectors": vectors}, indent=1))

#!/usr/bin/env python3
"""Writes the small DEFLATE and zip fixtures of Tests/SMMFormatTests/ZipArchiveTests.swift into
Tests/Fixtures/zip/ (committed; a few KB). Made with Python's zlib and zipfile, so that the Swift
decoder is checked against another implementation. Deterministic: rerunning gives the same files.

    python3 Tools/make_zip_fixtures.py

Files (raw DEFLATE, no zlib header; NAME.bin is the expected output of NAME.deflate):
  text.bin                 ~6 KB of repetitive text, the input of the three below
  text-stored.deflate      level 0: stored blocks only
  text-fixed.deflate       strategy Z_FIXED: fixed-Huffman blocks
  text-dynamic.deflate     level 9: dynamic-Huffman blocks
  mixed.bin / .deflate     random bytes (stored), text at level 9 and text with Z_FIXED in one
                           stream, via flushes that change the parameters between blocks
  text-truncated.deflate   text-dynamic.deflate cut in half
  skewed.bin / .deflate    bytes of geometric frequencies: Huffman codes of 11 bits and more
  small.zip                a stored entry, a deflated entry, a directory and a nested file
"""
import os
import random
import zipfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "Tests", "Fixtures", "zip")


def raw(data, level=9, strategy=zlib.Z_DEFAULT_STRATEGY):
    c = zlib.compressobj(level, zlib.DEFLATED, -15, 9, strategy)
    return c.compress(data) + c.flush()


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def main():
    os.makedirs(OUT, exist_ok=True)
    words = ("market shares rose as the company reported strong quarterly earnings while "
             "analysts warned of slowing demand and rising costs in the second half").split()
    rng = random.Random(20261207)
    text = " ".join(rng.choice(words) for _ in range(900)).encode()
    write("text.bin", text)
    write("text-stored.deflate", raw(text, level=0))
    write("text-fixed.deflate", raw(text, strategy=zlib.Z_FIXED))
    dynamic = raw(text)
    write("text-dynamic.deflate", dynamic)
    write("text-truncated.deflate", dynamic[: len(dynamic) // 2])

    noise = bytes(rng.getrandbits(8) for _ in range(700))
    # Three raw streams back to back: Z_FULL_FLUSH ends each of the first two with an empty,
    # non-final stored block on a byte boundary, so the concatenation is one valid stream whose
    # only final block is the last stream's.
    s1 = zlib.compressobj(0, zlib.DEFLATED, -15, 9)
    a = s1.compress(noise) + s1.flush(zlib.Z_FULL_FLUSH)
    s2 = zlib.compressobj(9, zlib.DEFLATED, -15, 9)
    b = s2.compress(text[:3000]) + s2.flush(zlib.Z_FULL_FLUSH)
    s3 = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_FIXED)
    d = s3.compress(text[3000:]) + s3.flush()
    write("mixed.bin", noise + text)
    write("mixed.deflate", a + b + d)
    assert zlib.decompress(a + b + d, -15) == noise + text

    # Byte frequencies falling off geometrically: Huffman codes longer than the decoder's 10-bit
    # direct table (its bit-by-bit path).
    skewed = bytes(min(int(rng.expovariate(0.35)), 255) for _ in range(6000))
    write("skewed.bin", skewed)
    write("skewed.deflate", raw(skewed))

    path = os.path.join(OUT, "small.zip")
    with zipfile.ZipFile(path, "w") as z:
        def add(name, data, method):
            info = zipfile.ZipInfo(name, date_time=(2026, 12, 7, 0, 0, 0))
            info.compress_type = method
            z.writestr(info, data)
        add("stored.txt", b"stored, not compressed\n", zipfile.ZIP_STORED)
        add("pkg/", b"", zipfile.ZIP_STORED)
        add("pkg/deflated.txt", text[:2000], zipfile.ZIP_DEFLATED)
        add("pkg/sub/empty.txt", b"", zipfile.ZIP_DEFLATED)
    for name in sorted(os.listdir(OUT)):
        print(f"{name}: {os.path.getsize(os.path.join(OUT, name))} bytes")


if __name__ == "__main__":
    main()

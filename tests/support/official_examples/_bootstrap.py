"""Stand-in for upstream ``sdk/python/examples/_bootstrap.py``, which the vendored examples import.

The upstream helper is not vendored: it puts the SDK's source checkout (``sdk/python/src``) on ``sys.path`` and,
through ``_runtime_setup``, installs the pinned runtime package (downloading it when missing). Here the SDK and
the engine are installed already, so this module offers the same five names without any of that:

* ``ensure_local_sdk_src()``: nothing to put on the path; returns the working directory.
* ``runtime_config()``: a default ``CodexConfig()`` of the SDK under test, like upstream (whose body is
  ``return CodexConfig()``). The SDK is the module named by ``OFFICIAL_EXAMPLES_SDK`` (``openai_codex`` when
  unset), so the same example runs against ``openai_codex`` or ``codex_actors``. An unset config uses the process
  environment, which the test sets to the offline ``CODEX_HOME``.
* ``generated_sample_image_data_url()``: the same generated 96x96 four-colour PNG as upstream, as a data URL.
* ``temporary_sample_image_path()``: yields ``generated_sample.png`` in the working directory (the test's
  workspace, where the test wrote it) instead of a fresh temp dir, so nothing is left behind.
* ``server_label(metadata)``: upstream's ``"<serverInfo.name> <serverInfo.version>"``.
"""

from __future__ import annotations

import base64
import contextlib
import importlib
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SDK_ENV = "OFFICIAL_EXAMPLES_SDK"
SAMPLE_IMAGE_NAME = "generated_sample.png"


def ensure_local_sdk_src() -> Path:
    return Path.cwd()


def runtime_config() -> Any:
    sdk = importlib.import_module(os.environ.get(SDK_ENV, "openai_codex"))
    return sdk.CodexConfig()


def _png_chunk(chunk_type: bytes, data: bytes) -> bytes:
    payload = chunk_type + data
    return struct.pack(">I", len(data)) + payload + struct.pack(">I", zlib.crc32(payload) & 0xFFFFFFFF)


def sample_png_bytes() -> bytes:
    """A 96x96 RGB PNG with four coloured quadrants (upstream's ``_generated_sample_png_bytes``)."""
    width = height = 96
    colors = ((120, 180, 255), (255, 220, 90), (90, 180, 95), (180, 85, 85))
    rows = bytearray()
    for y in range(height):
        rows.append(0)
        for x in range(width):
            rows.extend(colors[(2 if y >= height // 2 else 0) + (1 if x >= width // 2 else 0)])
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(bytes(rows)))
        + _png_chunk(b"IEND", b"")
    )


def generated_sample_image_data_url() -> str:
    return "data:image/png;base64," + base64.b64encode(sample_png_bytes()).decode("ascii")


@contextlib.contextmanager
def temporary_sample_image_path() -> Iterator[Path]:
    path = Path.cwd() / SAMPLE_IMAGE_NAME
    if not path.is_file():
        raise FileNotFoundError(f"the test should have written {path}")
    yield path


def server_label(metadata: Any) -> str:
    return f"{metadata.serverInfo.name} {metadata.serverInfo.version}"

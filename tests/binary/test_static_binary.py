"""The static binary needs no loader, no libc and no Python from the machine it runs on."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

PT_INTERP = 3


def elf_interpreter(path: Path) -> str | None:
    """The program interpreter (dynamic loader) a 64-bit little-endian ELF executable asks for, if any."""
    with path.open("rb") as elf:
        header = elf.read(64)
        assert header[:4] == b"\x7fELF" and header[4] == 2 and header[5] == 1, f"{path} is not an x86-64 ELF file"
        table = int.from_bytes(header[32:40], "little")
        entry_size = int.from_bytes(header[54:56], "little")
        for index in range(int.from_bytes(header[56:58], "little")):
            elf.seek(table + index * entry_size)
            entry = elf.read(entry_size)
            if int.from_bytes(entry[0:4], "little") == PT_INTERP:
                elf.seek(int.from_bytes(entry[8:16], "little"))
                return elf.read(int.from_bytes(entry[32:40], "little")).rstrip(b"\0").decode()
    return None


def test_static_binary_asks_for_no_dynamic_loader(static_binary: Path) -> None:
    assert elf_interpreter(static_binary) is None, f"{static_binary} needs a dynamic loader: not the static build"
    assert os.stat(static_binary).st_mode & 0o005 == 0o005, "others must be able to run it (staticx writes 0700)"


def test_binary_carries_the_server_and_the_porchctl_verbs(static_binary: Path) -> None:
    version = subprocess.run([str(static_binary), "--version"], capture_output=True, text=True, check=True)
    assert version.stdout == "porch-embedded 0.1.0\n"
    verbs = subprocess.run([str(static_binary), "rpkg", "--help"], capture_output=True, text=True, check=True)
    assert "\nUsage:\n  porch-embedded rpkg [command]\n" in verbs.stdout, verbs.stdout

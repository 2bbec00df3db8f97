"""A small filesystem of its own for disk-full tests: a tmpfs where mounting is allowed, else an ext4 image on a loop device.

Used by tests/test_disk_full.py and bench/faults. Both need root (or a user namespace that may
mount); where neither works, `small_filesystem` raises `CannotMount` with the reason, and the
caller skips visibly.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path


class CannotMount(Exception):
    """This machine does not let us mount a small filesystem."""


@contextmanager
def small_filesystem(mountpoint: Path, *, megabytes: int) -> Iterator[str]:
    """A filesystem of about `megabytes` MB mounted at `mountpoint` (created); yields how it was made."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    tried = []
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={megabytes}m,mode=0777", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
        check=False,
    )
    how = f"tmpfs of {megabytes} MB"
    image = mountpoint.with_name(mountpoint.name + ".img")
    if done.returncode != 0:
        tried.append(f"tmpfs: {done.stderr.strip() or done.returncode}")
        with open(image, "wb") as f:
            f.truncate(megabytes * 1024 * 1024)
        made = subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], capture_output=True, text=True, check=False)
        done = (
            made
            if made.returncode
            else subprocess.run(
                ["mount", "-o", "loop", str(image), str(mountpoint)], capture_output=True, text=True, check=False
            )
        )
        how = f"ext4 image of {megabytes} MB on a loop device"
        if done.returncode != 0:
            tried.append(f"loop device: {done.stderr.strip() or done.returncode}")
            image.unlink(missing_ok=True)
            raise CannotMount("; ".join(tried))
        os.chmod(mountpoint, 0o777)
    try:
        yield how
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True, check=False)
        image.unlink(missing_ok=True)


def fill(folder: Path) -> Path:
    """Write a file in `folder` until the filesystem is full; the file, to delete when space should come back."""
    filler = folder / "filler.bin"
    chunk = b"\0" * (64 * 1024)
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(chunk)
        except OSError as e:
            if e.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
    # The last partial block: fill it byte by byte in smaller writes.
    with open(filler, "ab", buffering=0) as f:
        for size in (4096, 512, 1):
            with suppress(OSError):
                while True:
                    f.write(b"\0" * size)
    return filler

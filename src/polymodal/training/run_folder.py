"""A training run's folder: which paths may hold one, one writer at a time, safe overwriting.

- :func:`check_output_dir` refuses paths that cannot be a run folder (empty, ``.``, a
  filesystem root, the home folder, a file) and a folder that already holds something
  unless the user said ``--overwrite`` or ``--resume``;
- :class:`RunLock` is a lock file ``.polymodal.lock`` in the folder naming the holder's pid,
  host and process start time. A second writer is refused with a message naming the
  holder; a lock left by a process that died (same host, pid gone or reused) is taken over
  with a message;
- :class:`PreviousRun` moves an old run aside (``.previous-run/`` in the folder) when
  ``--overwrite`` replaces it, puts it back if the new run fails before it wrote its first
  checkpoint, and deletes it once the new run is known to work.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from polymodal._files import fsync_dir
from polymodal.errors import ConfigError, PolymodalError

__all__ = ["LOCK_NAME", "PREVIOUS_NAME", "RunLock", "RunLocked", "PreviousRun", "check_output_dir", "run_entries"]

LOCK_NAME = ".polymodal.lock"
PREVIOUS_NAME = ".previous-run"
# Files polymodal itself leaves in a folder that do not make it "hold a run".
_IGNORED = {LOCK_NAME}


class RunLocked(PolymodalError, RuntimeError):
    """Another process holds the run folder's lock."""


def run_entries(folder: Path) -> list[str]:
    """Names in ``folder`` that belong to a run (everything but polymodal's own lock)."""
    try:
        return sorted(p.name for p in folder.iterdir() if p.name not in _IGNORED)
    except FileNotFoundError:
        return []


def check_output_dir(output_dir: str | Path, *, overwrite: bool = False, resume: bool = False) -> Path:
    """The resolved run folder, or a :class:`ConfigError` naming ``output_dir``.

    Refused: an empty path, ``.`` or any path that resolves to the working directory, a
    filesystem root or the home folder (a run's cleanup must never reach unrelated files);
    a path that is a file, or that lies under a file; and a folder that already holds
    something, unless ``overwrite`` (replace it) or ``resume`` (continue it).
    """
    text = str(output_dir).strip()
    if not text:
        raise ConfigError("output_dir", "a folder for the run (e.g. runs/my_run)", "an empty path")
    path = Path(text).expanduser()
    resolved = path.resolve()
    forbidden = {Path.cwd().resolve(): "the working directory", Path.home().resolve(): "the home folder"}
    if resolved == Path(resolved.anchor):
        raise ConfigError("output_dir", "a folder of its own for the run (e.g. runs/my_run)", f"{text!r}, a filesystem root")
    if resolved in forbidden:
        raise ConfigError("output_dir", "a folder of its own for the run (e.g. runs/my_run)", f"{text!r}, {forbidden[resolved]}")
    for parent in (resolved, *resolved.parents):
        if parent.exists() and not parent.is_dir():
            where = "is a file" if parent == resolved else f"lies under the file {parent}"
            raise ConfigError("output_dir", "a folder for the run", f"{text!r}, which {where}")
        if parent.exists():
            break
    if resolved.is_dir() and not (overwrite or resume):
        entries = run_entries(resolved)
        if entries:
            shown = ", ".join(entries[:4]) + (", ..." if len(entries) > 4 else "")
            raise ConfigError(
                "output_dir",
                "an empty or new folder (pass --overwrite to replace the run there, or --resume to continue it)",
                f"{text!r}, which holds {shown}",
            )
    return resolved


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), to tell a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None


def _alive(pid: int, start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by someone else
    now = _start_time(pid)
    return start is None or now is None or now == start


class RunLock:
    """The lock file of one writer of a run folder; a context manager.

    Args:
        folder: the run folder (created if needed).
        log: where to say that a stale lock was taken over (``print`` to stderr by default).
    """

    def __init__(self, folder: str | Path, log: Callable[[str], None] | None = None) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.log = log or (lambda message: print(message, file=__import__("sys").stderr, flush=True))
        self.held = False

    def holder(self) -> dict[str, Any] | None:
        """The lock file's content (``pid``, ``host``, ``start``, ``since``), or None when free."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}  # unreadable: half-written by a process killed while taking it
        return data if isinstance(data, dict) else {}

    def _describe(self, holder: dict[str, Any]) -> str:
        since = holder.get("since")
        when = time.strftime(" since %Y-%m-%d %H:%M:%S", time.localtime(since)) if isinstance(since, (int, float)) else ""
        return f"process {holder.get('pid', '?')} on {holder.get('host', '?')}{when}"

    def _stale(self, holder: dict[str, Any]) -> bool:
        pid, host = holder.get("pid"), holder.get("host")
        if not holder:  # empty or corrupt lock file: its writer died before finishing it
            age = time.time() - self.path.stat().st_mtime if self.path.exists() else 0
            return age > 10.0
        if host != socket.gethostname() or not isinstance(pid, int):
            return False  # another machine's process: we cannot tell, so we do not steal
        return not _alive(pid, holder.get("start"))

    def acquire(self) -> RunLock:
        self.folder.mkdir(parents=True, exist_ok=True)
        record = {"pid": os.getpid(), "host": socket.gethostname(), "start": _start_time(os.getpid()), "since": time.time()}
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self.holder()
                if holder is None:
                    continue  # released between our open and our read: try again
                if not self._stale(holder):
                    raise RunLocked(
                        f"{self.folder}: expected a run folder no other process writes to, got one locked by "
                        f"{self._describe(holder)} ({self.path}; delete it only if that process is gone)"
                    ) from None
                # Move the stale lock aside under a unique name: of two processes taking it
                # over at once, only one rename succeeds, and only then do we create ours.
                aside = self.path.with_name(f"{LOCK_NAME}.stale-{os.getpid()}")
                try:
                    os.rename(self.path, aside)
                except FileNotFoundError:
                    continue
                aside.unlink(missing_ok=True)
                self.log(f"warning: {self.folder}: took over the lock of {self._describe(holder)}, which is no longer running")
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(record, f)
                f.flush()
                os.fsync(f.fileno())
            fsync_dir(self.folder)
            self.held = True
            return self
        raise RunLocked(f"{self.folder}: expected to take the run lock {self.path}, got it contended three times in a row")

    def release(self) -> None:
        if not self.held:
            return
        holder = self.holder()
        if holder and holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname():
            self.path.unlink(missing_ok=True)
        self.held = False

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


class PreviousRun:
    """An old run moved aside by ``--overwrite``, restored or deleted later.

    :meth:`stash` moves every entry of the folder (but the lock) into ``.previous-run/``;
    :meth:`restore` removes what the new run wrote and moves the old entries back;
    :meth:`discard` deletes them. A folder with a ``.previous-run/`` left by a process that
    was killed in between is put back by :meth:`recover` (the trainer calls it before
    anything else), so nothing is lost.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / PREVIOUS_NAME
        self.active = False

    def recover(self) -> bool:
        """Put back an old run that a killed ``--overwrite`` left aside; whether there was one."""
        if not self.path.is_dir():
            return False
        self._put_back()
        return True

    def stash(self) -> None:
        self.recover()
        entries = run_entries(self.folder)
        if not entries:
            return
        self.path.mkdir()
        for name in entries:
            os.rename(self.folder / name, self.path / name)
        fsync_dir(self.folder)
        self.active = True

    def _put_back(self) -> None:
        for name in run_entries(self.folder):
            if name != PREVIOUS_NAME:
                target = self.folder / name
                shutil.rmtree(target) if target.is_dir() and not target.is_symlink() else target.unlink()
        for entry in self.path.iterdir():
            os.rename(entry, self.folder / entry.name)
        self.path.rmdir()
        fsync_dir(self.folder)

    def restore(self) -> None:
        if self.active:
            self._put_back()
            self.active = False

    def discard(self) -> None:
        if self.active:
            shutil.rmtree(self.path, ignore_errors=True)
            self.active = False


"""A small ctypes wrapper around the eSpeak NG speech synthesiser that ``espeakng-loader`` ships.

``espeakng-loader`` provides ``libespeak-ng`` and its data folder but no synthesis function,
so this module calls the C API (``speak_lib.h``) directly. It is used by the ``digits-av``
builder to make spoken digit words locally, with no download.

eSpeak NG is a process-wide singleton and not thread-safe: :class:`ESpeak` initialises
it once per process and serialises every call with a lock.

Repeatability: the random seeds (eSpeak's own and libc's) are set before every call, but
the wave generator also keeps its phase and counters from one call to the next, so one
call's samples depend on the calls before it in the same process. A fresh engine that
replays the same sequence of calls gives identical samples; :func:`synthesize_many` does
that in a fresh child process, which is what dataset builders use.

The child runs this file by its path, without importing the ``polymodal`` package (whose
import brings in torch, seconds on a busy machine): so this module imports nothing from
polymodal at module level.
"""

from __future__ import annotations

import ctypes
import json
import struct
import subprocess
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["SAMPLE_RATE", "ESpeak", "Voice", "english_accents", "submit_many", "synthesize_many", "voice_variants"]

# Constants from espeak-ng's speak_lib.h.
_AUDIO_OUTPUT_SYNCHRONOUS = 2  # the synth callback runs inside espeak_Synth; no audio device
_INITIALIZE_DONT_EXIT = 0x8000  # return an error instead of calling exit() on a bad data path
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_RATE, _VOLUME, _PITCH, _RANGE = 1, 2, 3, 4
_EE_OK = 0

# What eSpeak NG's formant voices produce; ESpeak.sample_rate reports the engine's own value.
SAMPLE_RATE = 22_050

_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


def _input_error(field: str, expected: str, got: Any = None, hint: str | None = None) -> Exception:
    from polymodal.errors import InputError  # here, not at the top: see the module docstring

    return InputError(field, expected, got, hint=hint)


def _data_path() -> Path:
    import espeakng_loader

    return Path(espeakng_loader.get_data_path())


def voice_variants(data_path: str | Path | None = None) -> list[str]:
    """Names of the voice variants in the data folder's ``voices/!v`` (those with no space).

    eSpeak accepts ``"<language>+<variant>"``; an unknown variant silently falls back to
    the plain language voice, so callers check names against this list.
    """
    folder = Path(data_path or _data_path()) / "voices" / "!v"
    return sorted(p.name for p in folder.iterdir() if p.is_file() and " " not in p.name)


def english_accents(data_path: str | Path | None = None) -> list[str]:
    """Names of the English voices in the data folder (``en``, ``en-us``, ``en-gb-scotland``, ...).

    These are the voice file names, lower-cased, which ``espeak_SetVoiceByName`` accepts
    (``en`` is British English; ``en-gb`` is not a file name and is refused).
    The Shavian-alphabet voice is left out: it reads another script.
    """
    folder = Path(data_path or _data_path()) / "lang" / "gmw"
    return sorted(p.name.lower() for p in folder.glob("en*") if p.is_file() and p.name != "en-Shaw")


@dataclass(frozen=True)
class Voice:
    """One synthetic speaker: an accent, a voice variant and prosody.

    Attributes:
        language: an eSpeak language code (``"en-us"``).
        variant: a name from ``voices/!v`` (``"m3"``) or ``None`` for the plain voice.
        rate: words per minute (eSpeak clamps to about 80–450; saturates near 350).
        pitch: base pitch, 0–100.
        pitch_range: pitch range, 0–100 (0 is monotone).
        volume: amplitude in percent (100 = eSpeak's default).
    """

    language: str = "en-us"
    variant: str | None = None
    rate: int = 175
    pitch: int = 50
    pitch_range: int = 50
    volume: int = 100

    @property
    def name(self) -> str:
        return self.language if self.variant is None else f"{self.language}+{self.variant}"


class ESpeak:
    """The eSpeak NG engine, initialised once per process.

    ``ESpeak()`` returns the process's engine; :meth:`synthesize` turns a word or sentence
    into int16 samples at :attr:`sample_rate` (22,050 Hz for eSpeak NG's voices).
    """

    _instance: ESpeak | None = None
    _lock = threading.Lock()

    def __new__(cls) -> ESpeak:
        with cls._lock:
            if cls._instance is None:
                engine = super().__new__(cls)
                engine._start()
                cls._instance = engine
        return cls._instance

    def _start(self) -> None:
        import espeakng_loader

        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
            ctypes.c_uint, ctypes.POINTER(ctypes.c_uint), ctypes.c_void_p,
        ]  # fmt: skip
        lib.espeak_Synth.restype = ctypes.c_int
        self._has_seed = hasattr(lib, "espeak_ng_SetRandSeed")
        # Parts of eSpeak's wave generator (voicing and breath noise) call libc's rand(),
        # so a repeatable synthesis seeds that generator too.
        self._libc = ctypes.CDLL(None)
        self._libc.srand.argtypes = [ctypes.c_uint]
        self._libc.srand.restype = None
        if self._has_seed:
            lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
            lib.espeak_ng_SetRandSeed.restype = None

        self.data_path = _data_path()
        # espeak_Initialize wants the folder that *contains* espeak-ng-data.
        rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, str(self.data_path.parent).encode(), _INITIALIZE_DONT_EXIT
        )
        if rate <= 0:
            raise RuntimeError(f"eSpeak NG failed to initialise with data folder {self.data_path}")
        self.sample_rate: int = rate
        self._lib = lib
        self._chunks: list[np.ndarray] = []

        def collect(wav: ctypes.POINTER(ctypes.c_short), n: int, _events: ctypes.c_void_p) -> int:
            if wav and n > 0:
                self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
            return 0  # 0 = carry on synthesising

        # The C library keeps only a raw pointer: the ctypes object must outlive the engine,
        # or the next synthesis calls freed memory.
        self._callback = _SynthCallback(collect)
        lib.espeak_SetSynthCallback(self._callback)
        self._variants = set(voice_variants(self.data_path))

    @property
    def seedable(self) -> bool:
        """Whether this libespeak-ng exports ``espeak_ng_SetRandSeed`` (repeatable output)."""
        return self._has_seed

    def check_voice(self, voice: Voice) -> None:
        """Raise :class:`~polymodal.errors.InputError` for a variant eSpeak would silently replace."""
        if voice.variant is not None and voice.variant not in self._variants:
            raise _input_error(
                "voice.variant",
                f"a voice variant from {self.data_path / 'voices' / '!v'}",
                repr(voice.variant),
                hint="see polymodal.recipes.espeak.voice_variants()",
            )

    def synthesize(self, text: str, voice: Voice = Voice(), *, seed: int = 0) -> np.ndarray:
        """``[T]`` int16 samples of ``text`` spoken by ``voice`` at :attr:`sample_rate`.

        The seeds are set before the call, but the engine keeps wave-generator state from
        earlier calls: identical samples need a fresh engine replaying the same calls
        (:func:`synthesize_many`).
        """
        self.check_voice(voice)
        with self._lock:
            status = self._lib.espeak_SetVoiceByName(voice.name.encode())
            if status != _EE_OK:
                raise _input_error("voice", "a voice name eSpeak NG knows", repr(voice.name))
            # Rate, pitch and volume persist across voice changes: set them before every call.
            settings = ((_RATE, voice.rate), (_PITCH, voice.pitch), (_RANGE, voice.pitch_range), (_VOLUME, voice.volume))
            for parameter, value in settings:
                self._lib.espeak_SetParameter(parameter, int(value), 0)
            if self._has_seed:
                self._lib.espeak_ng_SetRandSeed(int(seed))  # the voice's jitter is random otherwise
            self._libc.srand(int(seed) & 0xFFFFFFFF)
            self._chunks = []
            data = text.encode("utf-8") + b"\0"
            status = self._lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            chunks, self._chunks = self._chunks, []
        if status != _EE_OK:
            raise RuntimeError(f"espeak_Synth failed with status {status} for {text!r} ({voice.name})")
        if not chunks:
            raise RuntimeError(f"eSpeak NG returned no audio for {text!r} ({voice.name})")
        return np.concatenate(chunks)


def synthesize_many(requests: Sequence[tuple[str, Voice, int]]) -> list[np.ndarray]:
    """Synthesise ``(text, voice, seed)`` requests in order, in a fresh child process.

    The engine carries state from call to call (see the module docstring), so a fresh
    engine makes the result depend only on ``requests``: the same list gives identical
    samples in any process, whatever it synthesised before. Returns int16 arrays at
    :data:`SAMPLE_RATE`. Voice variants are checked here, before the child starts.
    """
    return submit_many(requests).result()


def submit_many(requests: Sequence[tuple[str, Voice, int]]) -> Future[list[np.ndarray]]:
    """:func:`synthesize_many` in the background: a future of its result.

    The caller can do other work (writing images) while the child synthesises.
    """
    known = set(voice_variants())
    for _, voice, _ in requests:
        if voice.variant is not None and voice.variant not in known:
            raise _input_error("voice.variant", "a voice variant from the data folder's voices/!v", repr(voice.variant))
    payload = json.dumps([[text, asdict(voice), int(seed)] for text, voice, seed in requests]).encode()
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(_run_child, payload, len(requests))
    pool.shutdown(wait=False)  # the thread finishes the submitted work, then exits
    return future


# The child: load this file under another name (no package import), synthesise, stream back.
_CHILD = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("_polymodal_espeak_child", sys.argv[1])
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
spec.loader.exec_module(module)
module._child_main()
"""


def _run_child(payload: bytes, count: int) -> list[np.ndarray]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(Path(__file__).resolve())], input=payload, capture_output=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"the eSpeak NG child process failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    out, clips, offset = done.stdout, [], 0
    for _ in range(count):
        (n,) = struct.unpack_from("<q", out, offset)
        offset += 8
        clips.append(np.frombuffer(out, dtype="<i2", count=n, offset=offset).copy())
        offset += 2 * n
    if offset != len(out):
        raise RuntimeError(f"the eSpeak NG child process returned {len(out)} bytes, expected {offset}")
    return clips


def _child_main() -> None:
    requests = json.loads(sys.stdin.buffer.read())
    engine = ESpeak()
    write = sys.stdout.buffer.write
    for text, voice, seed in requests:
        samples = engine.synthesize(text, Voice(**voice), seed=seed).astype("<i2")
        write(struct.pack("<q", samples.size))
        write(samples.tobytes())
    sys.stdout.buffer.flush()

"""``digits-av``: handwritten digits and spoken digit words, with captions, for the main demo.

Images: scikit-learn's 1,797 8×8 digits (UCI Optical Recognition of Handwritten Digits),
written as 8×8 grayscale PNG at native resolution (values 0–16 scaled to 0–255).
Audio: the words "zero".."nine" synthesised locally with eSpeak NG (every voice variant
of the data folder × a few English accents, random rate, pitch and pitch range), written
as 16 kHz mono 16-bit WAV.

Rows are either an image or an audio clip (never both), each with a caption in ``text``
and its digit as ``label``: a trainer draws image rows and audio rows from two loaders
and aligns both to the caption's text embedding; evaluation measures each modality on its
own test rows (held-out writers' images, held-out voices' clips) and audio→image retrieval
(a hit is the same digit).

Splits hold out images *and* whole speakers: 30 % of the images (stratified by digit)
and 29 whole voice variants (every accent of them) appear only in ``test``.
"""

from __future__ import annotations

import wave
from pathlib import Path
from typing import Any

import numpy as np

from polymodal._files import write_json
from polymodal.recipes.datasets.base import BUILDERS, DatasetBuilder
from polymodal.recipes.datasets.files import count_by, markdown_table, write_manifest
from polymodal.errors import ConfigError

__all__ = ["ACCENTS", "AUDIO_SAMPLE_RATE", "CLASSES", "IMAGE_CAPTIONS", "AUDIO_CAPTIONS"]

CLASSES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
# eSpeak voice names (lang/gmw file names): American, British, Scottish, Caribbean English.
ACCENTS = ("en-us", "en", "en-gb-scotland", "en-029")
AUDIO_SAMPLE_RATE = 16_000
HEADROOM = 0.5  # gain applied to every clip before resampling (−6 dB)
IMAGE_CAPTIONS = ("a handwritten {}", "the digit {}", "a picture of the number {}", "a scanned handwritten digit {}")
AUDIO_CAPTIONS = ("someone saying {}", "the spoken word {}", "a voice saying {}", "a recording of the word {}")
RATE_WPM = (130, 280)
PITCH = (25, 75)
PITCH_RANGE = (20, 80)


def _write_images(folder: Path, rng: np.random.Generator, test_size: float, limit: int | None) -> list[dict]:
    from PIL import Image
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images, targets = digits.images, digits.target
    index = np.arange(len(targets))
    if limit is not None:
        index, _ = train_test_split(index, train_size=limit, stratify=targets, random_state=0)
        index = np.sort(index)
    train_idx, test_idx = train_test_split(index, test_size=test_size, stratify=targets[index], random_state=0)
    test_set = set(test_idx.tolist())
    (folder / "images").mkdir()
    rows = []
    for i in index.tolist():
        label = int(targets[i])
        # 0..16 → 0..255, rounded: the native 8×8 grid, no resampling.
        pixels = np.rint(images[i] * (255.0 / 16.0)).astype(np.uint8)
        rel = f"images/{i:04d}.png"
        Image.fromarray(pixels, mode="L").save(folder / rel, optimize=False)
        word = CLASSES[label]
        rows.append({
            "id": f"img-{i:04d}",
            "split": "test" if i in test_set else "train",
            "label": label,
            "image": rel,
            "text": IMAGE_CAPTIONS[rng.integers(len(IMAGE_CAPTIONS))].format(word),
            "meta": {"source_index": i},
        })  # fmt: skip
    return rows


def _write_wav(path: Path, samples: np.ndarray) -> None:
    # The standard library's writer: soundfile's close() syncs every file to disk, which
    # made the build's 4,000 small files take tens of seconds on a busy machine.
    pcm = np.rint(samples * 32767.0).astype("<i2")
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(AUDIO_SAMPLE_RATE)
        f.writeframes(pcm.tobytes())


def _plan_audio(
    rng: np.random.Generator, variants: int | None, test_variants: int, accents: tuple[str, ...]
) -> tuple[list[tuple[str, Any, int]], list[dict], list[str]]:
    """The synthesis requests and manifest rows of every clip, before any audio exists."""
    from polymodal.recipes.espeak import Voice, voice_variants

    names = voice_variants()
    if variants is not None:
        names = sorted(rng.choice(names, size=min(variants, len(names)), replace=False).tolist())
    held_out = set(rng.choice(names, size=test_variants, replace=False).tolist())

    requests, rows = [], []
    for variant in names:
        for accent in accents:
            for label, word in enumerate(CLASSES):
                voice = Voice(
                    language=accent,
                    variant=variant,
                    rate=int(rng.integers(RATE_WPM[0], RATE_WPM[1] + 1)),
                    pitch=int(rng.integers(PITCH[0], PITCH[1] + 1)),
                    pitch_range=int(rng.integers(PITCH_RANGE[0], PITCH_RANGE[1] + 1)),
                )
                seed = len(requests) + 1
                requests.append((word, voice, seed))
                rows.append({
                    "id": f"wav-{accent}-{variant}-{word}",
                    "split": "test" if variant in held_out else "train",
                    "label": label,
                    "audio": f"audio/{accent}/{variant}/{word}.wav",
                    "text": AUDIO_CAPTIONS[rng.integers(len(AUDIO_CAPTIONS))].format(word),
                    "meta": {
                        "voice": voice.name, "accent": accent, "variant": variant, "rate_wpm": voice.rate,
                        "pitch": voice.pitch, "pitch_range": voice.pitch_range, "espeak_seed": seed,
                    },
                })  # fmt: skip
    return requests, rows, sorted(held_out)


def _write_clips(folder: Path, rows: list[dict], clips: list[np.ndarray]) -> None:
    import soxr

    from polymodal.recipes.espeak import SAMPLE_RATE

    for parent in sorted({(folder / row["audio"]).parent for row in rows}):
        parent.mkdir(parents=True)
    for row, clip in zip(rows, clips, strict=True):
        path = folder / row["audio"]
        # Some voices peak near full scale and resampling overshoots: a fixed −6 dB for
        # every clip keeps the levels' relations and avoids clipping.
        wav = soxr.resample(clip.astype(np.float32) * (HEADROOM / 32768.0), SAMPLE_RATE, AUDIO_SAMPLE_RATE)
        _write_wav(path, np.clip(wav, -1.0, 1.0))


def _card(rows: list[dict], held_out: list[str], variants: list[str], options: dict[str, Any]) -> str:
    counts = count_by(rows, "split", "kind")
    table = markdown_table(
        ["split", "images", "audio clips"],
        [[s, counts.get(f"{s}/image", 0), counts.get(f"{s}/audio", 0)] for s in ("train", "test")],
    )
    return f"""# digits-av

Handwritten digit images and spoken digit words with captions, built offline by
`polymodal.recipes.datasets.build("digits-av")` for polymodal's main demo.

## Contents
- `manifest.jsonl`: one row per sample; a row holds **either** `image` **or** `audio`
  (a path relative to this folder), plus `text` (a caption), `label` (0–9, an index into
  `classes.json`), `split` (`train` or `test`) and `meta` (source index; eSpeak voice,
  accent, variant, rate, pitch, pitch range and seed).
- `classes.json`: the class names `{CLASSES}`.
- `images/NNNN.png`: 8×8 grayscale PNG, native resolution, values 0–16 scaled to 0–255;
  `NNNN` is the index in `sklearn.datasets.load_digits()`.
- `audio/<accent>/<variant>/<word>.wav`: 16 kHz mono 16-bit PCM WAV (synthesised at
  22,050 Hz, scaled by a fixed −6 dB so that resampling cannot clip, resampled with
  soxr). No silence trimming or per-clip level normalisation: that is the audio
  transform's job.

{table}

## Splits
- Images: {100 * options["test_size"]:.0f} % of the images in `test`, stratified by digit
  (scikit-learn `train_test_split`, `random_state=0`). The data carry no writer
  identities, so a test image is a new *image*, not necessarily a new writer.
- Audio: {len(held_out)} of {len(variants)} eSpeak voice variants are held out, in every
  accent ({", ".join(options["accents"])}): each appears only in `test`, so the test clips
  measure new speakers. Held-out variants: {", ".join(held_out)}.
- Each clip has its own random rate ({RATE_WPM[0]}–{RATE_WPM[1]} wpm), pitch
  ({PITCH[0]}–{PITCH[1]}) and pitch range ({PITCH_RANGE[0]}–{PITCH_RANGE[1]}); captions are drawn
  from templates ("a handwritten seven", "someone saying seven", ...). Seed {options["seed"]}.

Holding out eSpeak voices tests new speakers *of the same engine*: a real recording
(another voice, microphone, sample rate, silence around the word) is much further from
the training data than the held-out-voice figure suggests.

## Sources and licences
- Images: UCI Machine Learning Repository, *Optical Recognition of Handwritten Digits*
  (E. Alpaydin, C. Kaynak, 1998), as shipped by scikit-learn (`load_digits`, the 8×8
  test part); licence CC BY 4.0.
- Audio: generated locally by eSpeak NG (GPL-3.0-or-later engine and voice data, loaded
  from the `espeakng-loader` package). The synthesised audio is program output; check
  the GPL's terms for your use.
- Captions, splits and this card: generated by polymodal (Apache-2.0).
"""


def write(
    folder: Path,
    *,
    seed: int = 0,
    test_size: float = 0.3,
    variants: int | None = None,
    test_variants: int = 29,
    accents: tuple[str, ...] = ACCENTS,
    images: int | None = None,
) -> dict[str, Any]:
    """Write digits-av into the empty ``folder``.

    Args:
        seed: seeds captions, the held-out voices and prosody.
        test_size: share of the images held out for ``test`` (stratified).
        variants: use only this many eSpeak voice variants (``None``: all of them);
            small values make quick test builds.
        test_variants: how many voice variants appear only in ``test``.
        accents: eSpeak English voices each variant speaks with.
        images: use only this many images (stratified subset; ``None``: all 1,797).
    """
    from polymodal.recipes.espeak import english_accents, submit_many, voice_variants

    def check(ok: bool, name: str, expected: str, got: Any) -> None:
        if not ok:
            raise ConfigError(f"build('digits-av').{name}", expected, got)

    available = len(voice_variants())
    n_variants = available if variants is None else variants
    check(0 < test_size < 1, "test_size", "a share between 0 and 1", test_size)
    check(2 <= n_variants <= available, "variants", f"2..{available} voice variants", variants)
    check(1 <= test_variants < n_variants, "test_variants", f"1..{n_variants - 1} (fewer than variants)", test_variants)
    check(images is None or 50 <= images <= 1797, "images", "50..1797 images (or None for all)", images)
    unknown = sorted(set(accents) - set(english_accents()))
    check(bool(accents) and not unknown, "accents", f"English voices among {english_accents()}", unknown or accents)

    options = {"seed": seed, "test_size": test_size, "accents": list(accents)}
    # One generator per part, so that the images' options never change the voices.
    requests, audio_rows, held_out = _plan_audio(
        np.random.default_rng([seed, 1]), variants, test_variants, tuple(accents)
    )
    synthesis = submit_many(requests)  # a fresh engine in a child: same requests, same samples
    image_rows = _write_images(folder, np.random.default_rng([seed, 0]), test_size, images)
    _write_clips(folder, audio_rows, synthesis.result())
    rows = image_rows + audio_rows
    all_variants = sorted({r["meta"]["variant"] for r in audio_rows})
    write_manifest(folder / "manifest.jsonl", rows)
    write_json(folder / "classes.json", CLASSES, sort_keys=False)
    counted = [{**r, "kind": "image" if "image" in r else "audio"} for r in rows]
    counts = count_by(counted, "split", "kind")
    (folder / "README.md").write_text(_card(counted, held_out, all_variants, options), encoding="utf-8")
    return {"counts": counts, "held_out_variants": held_out, "variants": len(all_variants)}


@BUILDERS.register("digits-av")
class DigitsAV(DatasetBuilder):
    """8×8 handwritten digits + eSpeak NG spoken digit words, captions; held-out writers and voices."""

    version = 3
    write = staticmethod(write)

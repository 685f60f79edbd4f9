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

from pathlib import Path
from typing import Any

import numpy as np

from polymodal.data.builtin.base import BUILDERS, DatasetBuilder
from polymodal.data.builtin.files import count_by, markdown_table, write_json, write_manifest

__all__ = ["ACCENTS", "AUDIO_SAMPLE_RATE", "CLASSES", "IMAGE_CAPTIONS", "AUDIO_CAPTIONS"]

CLASSES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
# eSpeak voice names (lang/gmw file names): American, British, Scottish, Caribbean English.
ACCENTS = ("en-us", "en", "en-gb-scotland", "en-029")
AUDIO_SAMPLE_RATE = 16_000
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


def _write_audio(
    folder: Path, rng: np.random.Generator, variants: int | None, test_variants: int, accents: tuple[str, ...]
) -> tuple[list[dict], list[str]]:
    import soundfile as sf
    import soxr

    from polymodal.data.espeak import SAMPLE_RATE, Voice, synthesize_many, voice_variants

    names = voice_variants()
    if variants is not None:
        names = sorted(rng.choice(names, size=min(variants, len(names)), replace=False).tolist())
    held_out = set(rng.choice(names, size=min(test_variants, len(names) - 1), replace=False).tolist())

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
                rel = f"audio/{accent}/{variant}/{word}.wav"
                rows.append({
                    "id": f"wav-{accent}-{variant}-{word}",
                    "split": "test" if variant in held_out else "train",
                    "label": label,
                    "audio": rel,
                    "text": AUDIO_CAPTIONS[rng.integers(len(AUDIO_CAPTIONS))].format(word),
                    "meta": {
                        "voice": voice.name, "accent": accent, "variant": variant, "rate_wpm": voice.rate,
                        "pitch": voice.pitch, "pitch_range": voice.pitch_range, "espeak_seed": seed,
                    },
                })  # fmt: skip

    clips = synthesize_many(requests)  # a fresh engine: the same requests give the same samples
    for row, clip in zip(rows, clips, strict=True):
        path = folder / row["audio"]
        path.parent.mkdir(parents=True, exist_ok=True)
        wav = soxr.resample(clip, SAMPLE_RATE, AUDIO_SAMPLE_RATE)
        sf.write(path, wav, AUDIO_SAMPLE_RATE, subtype="PCM_16")
    return rows, sorted(held_out)


def _card(rows: list[dict], held_out: list[str], variants: list[str], options: dict[str, Any]) -> str:
    counts = count_by(rows, "split", "kind")
    table = markdown_table(
        ["split", "images", "audio clips"],
        [[s, counts.get(f"{s}/image", 0), counts.get(f"{s}/audio", 0)] for s in ("train", "test")],
    )
    return f"""# digits-av

Handwritten digit images and spoken digit words with captions, built offline by
`polymodal.data.builtin.build("digits-av")` for polymodal's main demo.

## Contents
- `manifest.jsonl`: one row per sample; a row holds **either** `image` **or** `audio`
  (a path relative to this folder), plus `text` (a caption), `label` (0–9, an index into
  `classes.json`), `split` (`train` or `test`) and `meta` (source index; eSpeak voice,
  accent, variant, rate, pitch, pitch range and seed).
- `classes.json`: the class names `{CLASSES}`.
- `images/NNNN.png`: 8×8 grayscale PNG, native resolution, values 0–16 scaled to 0–255;
  `NNNN` is the index in `sklearn.datasets.load_digits()`.
- `audio/<accent>/<variant>/<word>.wav`: 16 kHz mono 16-bit PCM WAV (synthesised at
  22,050 Hz, resampled with soxr). No silence trimming or level normalisation: that is
  the audio transform's job.

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
    rng = np.random.default_rng(seed)
    options = {"seed": seed, "test_size": test_size, "accents": list(accents)}
    image_rows = _write_images(folder, rng, test_size, images)
    audio_rows, held_out = _write_audio(folder, rng, variants, test_variants, tuple(accents))
    rows = image_rows + audio_rows
    all_variants = sorted({r["meta"]["variant"] for r in audio_rows})
    write_manifest(folder / "manifest.jsonl", rows)
    write_json(folder / "classes.json", CLASSES)
    counted = [{**r, "kind": "image" if "image" in r else "audio"} for r in rows]
    counts = count_by(counted, "split", "kind")
    (folder / "README.md").write_text(_card(counted, held_out, all_variants, options), encoding="utf-8")
    return {"counts": counts, "held_out_variants": held_out, "variants": len(all_variants)}


BUILDERS.add(
    "digits-av",
    DatasetBuilder(
        name="digits-av",
        description="8×8 handwritten digits + eSpeak NG spoken digit words, captions; held-out writers and voices",
        version=1,
        write=write,
    ),
)

"""The eSpeak NG ctypes wrapper: audible output, repeatability, clear errors for unknown voices."""

import numpy as np
import pytest

from polymodal.recipes.espeak import SAMPLE_RATE, ESpeak, Voice, english_accents, synthesize_many, voice_variants
from polymodal.errors import InputError


def test_synthesizes_a_non_silent_word() -> None:
    engine = ESpeak()
    assert engine.sample_rate == SAMPLE_RATE
    samples = engine.synthesize("seven", Voice("en-us", "m3", rate=180, pitch=50, pitch_range=50))
    assert samples.dtype == np.int16
    assert 0.1 * SAMPLE_RATE < samples.size < 2 * SAMPLE_RATE  # a word, not a sentence
    assert np.abs(samples.astype(np.int32)).max() > 1000  # audible, not silence


def test_engine_is_one_per_process() -> None:
    assert ESpeak() is ESpeak()


def test_same_requests_give_identical_samples() -> None:
    requests = [("seven", Voice("en-us", "m3", 200, 40, 60), 1), ("two", Voice("en", "f2", 150, 70, 20), 2)]
    first, second = synthesize_many(requests), synthesize_many(requests)
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    assert not np.array_equal(first[0][: first[1].size], first[1][: first[0].size])


def test_unknown_voice_variant_is_a_clear_error() -> None:
    with pytest.raises(InputError, match="voice.variant.*no-such-voice"):
        ESpeak().synthesize("one", Voice("en-us", "no-such-voice"))
    with pytest.raises(InputError, match="voice.variant.*no-such-voice"):  # checked before the child starts
        synthesize_many([("one", Voice("en-us", "no-such-voice"), 0)])


def test_unknown_language_is_a_clear_error() -> None:
    with pytest.raises(InputError, match="voice"):
        ESpeak().synthesize("one", Voice("xx-nowhere", None))


def test_voice_lists_come_from_the_data_folder() -> None:
    assert {"m3", "f2", "klatt", "whisper"} <= set(voice_variants())
    assert all(" " not in v for v in voice_variants())
    assert {"en", "en-us", "en-gb-scotland", "en-029"} <= set(english_accents())

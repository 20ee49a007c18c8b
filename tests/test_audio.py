import numpy as np
import pytest
import soundfile as sf

from qa_lab.data.audio import AudioError, check_duration, load_audio, log_mel, log_mel_pad30


def test_real_librispeech_clip_loads_at_16k(librispeech):
    info = sf.info(str(librispeech))
    audio = load_audio(librispeech)
    assert info.samplerate == 16000 and len(audio) == info.frames == 93680
    assert audio.dtype == np.float32
    mel = log_mel(audio)
    assert mel.shape == (80, 585)  # 10 ms hop: 93680 // 160
    assert np.array_equal(mel, log_mel_pad30(audio)[:, :585])


def test_stereo_44k_is_mixed_down_and_resampled(tmp_path):
    t = np.arange(44100) / 44100
    left = 0.5 * np.sin(2 * np.pi * 440 * t)
    sf.write(tmp_path / "s.wav", np.stack([left, -left], 1), 44100)
    sf.write(tmp_path / "l.wav", np.stack([left, left], 1), 44100)
    assert np.abs(load_audio(tmp_path / "s.wav")).max() < 1e-4  # opposite channels cancel: a real mix
    mono = load_audio(tmp_path / "l.wav")
    assert abs(len(mono) - 16000) <= 1
    assert abs(np.abs(mono).max() - 0.5) < 0.02


def test_offset_and_duration_select_a_segment(tmp_path):
    sf.write(tmp_path / "a.wav", np.linspace(-1, 1, 32000, dtype=np.float32), 16000)
    seg = load_audio(tmp_path / "a.wav", offset=0.5, duration=0.25)
    assert len(seg) == 4000
    assert np.allclose(seg, np.linspace(-1, 1, 32000, dtype=np.float32)[8000:12000], atol=1e-4)  # 0.5-0.75 s (16-bit wav)
    assert len(load_audio(tmp_path / "a.wav", offset=1.5)) == 8000  # no duration: to the end
    with pytest.raises(AudioError, match="a.wav: empty audio .* at offset 3.00 s"):
        load_audio(tmp_path / "a.wav", offset=3.0)


def test_bad_files_name_the_file(tmp_path):
    with pytest.raises(AudioError, match="missing.wav: audio file not found"):
        load_audio(tmp_path / "missing.wav")
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF\x00\x00garbage" * 10)
    with pytest.raises(AudioError, match="corrupt.wav: cannot decode"):
        load_audio(tmp_path / "corrupt.wav")
    sf.write(tmp_path / "empty.wav", np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(AudioError, match="empty.wav: empty audio"):
        load_audio(tmp_path / "empty.wav")


def test_over_30s_is_an_error_not_a_cut():
    with pytest.raises(AudioError, match=r"clip.wav: clip is 31.00 s long"):
        check_duration(31.0, "clip.wav")
    check_duration(30.0, "ok.wav")

"""The character corpus loader and the TinyGPT zoo model (checkpoint hash, tying, generation)."""
import hashlib

import numpy as np
import pytest

from qnn_lite.autograd import no_grad
from qnn_lite.data import text
from qnn_lite.zoo import gpt


def test_corpus_is_shipped_hash_checked_and_split():
    s = text.load_text()
    assert len(s) == 465197 and s.isascii()
    assert hashlib.sha256(s.encode()).hexdigest() == text.CORPUS_SHA256
    train, val = text.load_char_corpus("train"), text.load_char_corpus("val")
    assert len(train) + len(val) == len(s) and abs(len(val) / len(s) - 0.1) < 1e-4
    assert text.decode(val[:50]) == s[len(train):len(train) + 50]


def test_encode_decode_roundtrip_and_errors():
    s = "def f(x):\n    return x ~ 1\t"[:-1]
    ids = text.encode(s)
    assert ids.dtype == np.int64 and ids.max() < text.VOCAB_SIZE == 96
    assert text.decode(ids) == s
    assert text.encode("\n").tolist() == [0] and text.encode(" ").tolist() == [1]
    with pytest.raises(ValueError, match="outside the vocabulary"):
        text.encode("caf\u00e9")
    with pytest.raises(ValueError, match="0..95"):
        text.decode([96])
    with pytest.raises(ValueError, match="split"):
        text.load_char_corpus("test")


def test_windows():
    ids = np.arange(20)
    x, y = text.sequential_windows(ids, 4, max_windows=3)
    assert x.tolist()[1] == [4, 5, 6, 7] and y.tolist()[1] == [5, 6, 7, 8] and len(x) == 3
    x, y = text.random_windows(ids, 5, 4, np.random.default_rng(0))
    np.testing.assert_array_equal(y[:, :-1], x[:, 1:])
    with pytest.raises(ValueError, match="at least one window"):
        text.sequential_windows(ids[:4], 4)


def test_tinygpt_shapes_tying_and_errors():
    cfg = gpt.GPTConfig(block_size=8, n_layer=1, n_head=2, n_embd=16)
    m = gpt.TinyGPT(cfg)
    names = [n for n, _ in m.named_parameters()]
    assert "wte.weight" in names and not any("lm_head" in n for n in names)   # tied: no second matrix
    idx = np.zeros((2, 8), np.int64)
    assert m(idx).shape == (2, 8, 96)
    loss = m.loss(idx, idx)
    loss.backward()
    assert m.wte.weight.grad is not None and np.abs(m.wte.weight.grad).sum() > 0
    with pytest.raises(ValueError, match="block_size=8"):
        m(np.zeros((1, 9), np.int64))
    with pytest.raises(ValueError, match="divisible"):
        gpt.GPTConfig(n_embd=30, n_head=4)


def test_generation_with_cache_matches_full_recompute():
    cfg = gpt.GPTConfig(block_size=16, n_layer=2, n_head=2, n_embd=16)
    m = gpt.TinyGPT(cfg, seed=1).eval()
    out = gpt.generate(m, [5, 6, 7], 10, temperature=0)
    ids = [5, 6, 7]
    with no_grad():
        for _ in range(10):
            ids.append(int(np.argmax(m(np.array([ids])).data[0, -1])))
    assert out.tolist() == ids
    a = gpt.generate(m, [5], 30, temperature=1.0, seed=3)          # past block_size: the window slides
    assert len(a) == 31 and a.tolist() == gpt.generate(m, [5], 30, temperature=1.0, seed=3).tolist()


@pytest.mark.skipif(not gpt.CHECKPOINT.exists(), reason="checkpoint not trained yet")
def test_shipped_checkpoint_loads_verifies_and_predicts_text():
    m = gpt.load_tinygpt()
    assert gpt.CHECKPOINT.stat().st_size <= 5 * 2 ** 20
    r = gpt.evaluate_lm(m, text.load_char_corpus("val"), max_windows=16)
    assert r["bpc"] < 2.6 and r["ppl"] == pytest.approx(np.exp(r["nll"]))   # a uniform guess is log2(96) = 6.6


def test_corrupt_checkpoint_is_refused(tmp_path):
    m = gpt.TinyGPT(gpt.GPTConfig(block_size=8, n_layer=1, n_head=2, n_embd=16))
    path = tmp_path / "m.npz"
    digest = gpt.save_tinygpt(m, path)
    loaded = gpt.load_tinygpt(path, sha256=digest)
    np.testing.assert_array_equal(loaded.wte.weight.data, m.wte.weight.data)
    with pytest.raises(ValueError, match="sha256"):
        gpt.load_tinygpt(path, sha256="0" * 64)

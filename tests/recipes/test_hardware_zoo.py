"""Zoo layers on the simulated arrays: a depthwise conv as one GEMM per channel, bit-exact."""
import numpy as np
import pytest

from qnn_lite import nn
from qnn_lite.data import DataLoader
from qnn_lite.hw import BitFusionArray, SystolicArray
from qnn_lite.kernels.bitserial import bit_serial_matmul
from qnn_lite.recipes.hardware import integer_layer_on, zoo_layers_on
from qnn_lite.transforms.fake_quant import default_qconfig
from qnn_lite.transforms.integer import convert_to_integer
from qnn_lite.transforms.ptq import ptq


def _int_model(groups, mult=1, C=4, hw=5, stride=1):
    nn.manual_seed(11)
    model = nn.Sequential(nn.Conv2d(C, C * mult, 3, stride=stride, padding=1, groups=groups), nn.ReLU6(),
                          nn.Conv2d(C * mult, 6, 1))
    X = np.random.default_rng(1).normal(size=(16, C, hw, hw)).astype(np.float32)
    qm = ptq(model, default_qconfig(per_channel=True), DataLoader(X, np.zeros(16), 8))
    return convert_to_integer(qm), X


def test_depthwise_gemms_on_the_systolic_array_are_bit_exact_vs_numpy():
    im, X = _int_model(groups=4)
    layer = im.layers[0][1]
    q = im.quantize_input(X[:2])
    res = integer_layer_on(layer, q, SystolicArray(4, 4, "ws"))
    # numpy reference: pad with the zero point, one 3x3 window sum per channel, then the z_x correction
    z = layer.in_qp.zero_point
    w = (layer.w_q - layer.w_z[:, None]).reshape(4, 3, 3)
    xp = np.pad(q.astype(np.int64), ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=z)
    acc = np.zeros((2, 4, 5, 5), np.int64)
    for c in range(4):
        for i in range(5):
            for j in range(5):
                acc[:, c, i, j] = (xp[:, c, i:i + 3, j:j + 3] * w[c]).sum(axis=(1, 2))
    acc += (layer.bias_q - z * w.reshape(4, -1).sum(axis=1))[None, :, None, None]
    assert np.array_equal(res["acc"], acc)
    assert np.array_equal(res["out"], layer(q))
    # one tiny GEMM per channel: (B*OH*OW, 9) @ (9, 1)
    assert len(res["report"]) == 4 and all((r.M, r.K, r.N) == (50, 9, 1) for r in res["report"])


@pytest.mark.parametrize("mult,stride", [(2, 1), (1, 2)])
def test_grouped_conv_on_both_arrays_equals_the_integer_layer(mult, stride):
    im, X = _int_model(groups=4, mult=mult, stride=stride)
    layer, q = im.layers[0][1], im.quantize_input(X[:2])
    for hw in (SystolicArray(4, 4, "os"), BitFusionArray(4, 4)):
        assert np.array_equal(integer_layer_on(layer, q, hw)["out"], layer(q))


def test_zoo_layers_on_reports_depthwise_as_the_low_utilisation_case():
    im, X = _int_model(groups=8, C=8, hw=6)
    # the depthwise conv's input channels are 8, its groups 8; the 1x1 after it is pointwise
    rows = zoo_layers_on(im, X[:1], SystolicArray(4, 4, "ws"), [im.layers[0][0], im.layers[1][0]])
    dw, pw = rows
    assert dw["kind"] == "depthwise" and pw["kind"] == "pointwise"
    assert dw["exact"] and pw["exact"]
    assert dw["gemms"] == 8 and dw["gemm (M, K, N)"] == (36, 9, 1) and pw["gemm (M, K, N)"] == (36, 8, 6)
    assert dw["macs"] == 36 * 9 * 8 and pw["macs"] == 36 * 8 * 6
    # N = 1 column: at most 1 of 4 PE columns ever works
    assert dw["utilization"] <= 0.25 and dw["utilization"] < pw["utilization"] / 2
    assert dw["reads+writes per mac"] > pw["reads+writes per mac"]
    with pytest.raises(ValueError, match="names must be layers"):
        zoo_layers_on(im, X[:1], SystolicArray(4, 4), ["nope"])


def test_bit_serial_kernel_runs_a_zoo_layer_gemm():
    """The bit-serial kernel computes the pointwise layer's GEMM on the raw codes exactly."""
    im, X = _int_model(groups=1)
    layer = im.layers[1][1]
    q = im.layers[0][1](im.quantize_input(X[:2]))
    A = q.transpose(0, 2, 3, 1).reshape(-1, q.shape[1]).astype(np.int64)    # 1x1 conv: pixels x channels
    W = (layer.w_q - layer.w_z[:, None]).T.astype(np.int64)
    got = bit_serial_matmul(A, W, a_bits=8, b_bits=8, a_signed=False, b_signed=True)
    assert np.array_equal(got, A @ W)


def test_the_zoo_mobilenets_layers_run_on_the_array_and_the_kernels():
    """The shipped MobileNet, integer-only: block 1's depthwise conv on the systolic array, its
    projection's GEMM on the bit-serial kernel, every non-grouped GEMM on int8_matmul."""
    from qnn_lite.data import load_distorted_digits
    from qnn_lite.kernels.intgemm import int8_matmul
    from qnn_lite.zoo import load_pretrained
    Xtr, ytr, Xte, _ = load_distorted_digits()
    qm = ptq(load_pretrained("mobilenetv2_tiny"), default_qconfig(per_channel=True),
             DataLoader(Xtr, ytr, 64, shuffle=True, seed=0), num_batches=2)
    im = convert_to_integer(qm, Xte[:2])
    dw, pw = "model.features.block1.conv.0.0", "model.features.block1.conv.1.0"
    rows = zoo_layers_on(im, Xte[:1], SystolicArray(8, 8, "ws"), [dw, pw])
    assert [r["kind"] for r in rows] == ["depthwise", "pointwise"] and all(r["exact"] for r in rows)
    assert rows[0]["gemms"] == 16 and rows[0]["gemm (M, K, N)"] == (64, 9, 1)
    # the projection's GEMM (pixels x 16 channels) @ (16, 16) on the bit-serial and int8 kernels
    layers = dict(im.layers)
    values = im.forward_values(im.quantize_input(Xte[:1]))
    q = values[im.inputs[[n for n, _ in im.layers].index(pw)][0]]
    A = q.transpose(0, 2, 3, 1).reshape(-1, q.shape[1]).astype(np.int64)
    W = (layers[pw].w_q - layers[pw].w_z[:, None]).T.astype(np.int64)
    want = A @ W
    assert np.array_equal(bit_serial_matmul(A, W, a_bits=8, b_bits=8, a_signed=False, b_signed=True), want)
    assert np.array_equal(int8_matmul((A - 128).astype(np.int8), W.astype(np.int8)) + 128 * W.sum(axis=0), want)

"""`qnn_lite.quantizers`: the quantizer ops — functions, Functions and Modules on arrays and Tensors.

A quantizer maps values to a small set of levels and says how gradients pass through it. Nothing
here takes a model: wrapping layers is :mod:`qnn_lite.transforms`. Modules here import only
``autograd``, ``nn``, ``kernels`` and ``validate`` (``tests/test_layering.py`` checks it).
Import the module you need, e.g. ``from qnn_lite.quantizers.uniform import fake_quantize``.

=================  ==========================================================
module             what it holds
=================  ==========================================================
``base``           FakeQuantizeBase: the Module every quantizer module derives from
``uniform``        qrange, calc_qparams, quantize / dequantize, fake_quantize (bit-exact with PyTorch)
``observers``      MinMax, moving-average, per-channel, percentile and MSE observers
``histogram``      HistogramObserver (PyTorch's L2 search over 2048 bins)
``ste``            straight-through estimators and the one registry of them; ``sign`` with sign(0) = +1
``lsq``            LSQ, PyTorch's learnable fake quant (per tensor, per channel)
``learned``        PACT, DoReFa weights / activations / gradients (functions and Modules)
``stochastic``     stochastic rounding and stochastic gradient quantization
``binary``         XNOR-Net, IR-Net Libra-PB, 0/1 activations
``ternary``        TWN, TTQ, soft-threshold ternary
``cluster``        k-means weight sharing, codebook fine-tuning, Huffman size
``log``            power-of-two (log- and value-domain rounding), multi-hot, mu-law
``formats``        number formats FP32 / FP16 / BF16 / FP8 / INTb / binary: layout, range, rounding
``format_values``  the values a format holds: counts, grids, spacing, bit patterns, weights rounded to a format
``metrics``        quantization error: MSE, SQNR, rounding vs clipping, the step^2/12 noise model
``activation``     dynamic activation fake quant: per-tensor, per-token, per-channel; int or FP8
``groupwise``      group-wise weight quantization (int4/int3 groups of 32/64/128) and its real bits per weight
``mx``             OCP Microscaling (MX) block formats: MXFP8/6/4 and MXINT8 with a shared E8M0 scale
``calibration``    calibration observers: KL / entropy (TensorRT), SAWB, ACIQ; MMSE clipping per tensor and joint
``bit_split``      Bit-Split & Stitching: an M-bit weight optimised one bit plane at a time
=================  ==========================================================
"""

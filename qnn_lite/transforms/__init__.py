"""`qnn_lite.transforms`: model in, model out — fake-quant wrapping, PTQ, QAT, integer-only conversion.

A transform takes a model (an ``nn.Module``) and returns a quantized one, or is a layer such a
model is built from. Modules here may import :mod:`qnn_lite.quantizers` and :mod:`qnn_lite.hw`,
never ``recipes``, ``train`` or ``data`` (``tests/test_layering.py`` checks it).

=================  ==========================================================
module             what it holds
=================  ==========================================================
``fake_quant``     FakeQuantize modules (observer + fake quant), QConfig
``layers``         QuantLinear, QuantConv2d, QuantAct, QuantReLU
``bnn``            binary / ternary / k-bit layers with a chosen weight quantizer and estimator
``lowprec``        fixed-point rounding and SGD, DoReFa layers with quantized gradients
``ptq``            BN folding, prepare / calibrate / convert, bias correction, ``ptq``
``qat``            prepare_qat: fake quant and observers on while training
``record``         record what each activation quantizer sees; PTQ from recorded samples
``requant``        fixed-point multipliers (M0, shift), gemmlowp rounding, add / concat
``integer``        integer-only inference (Jacob et al. 2018): convert_to_integer
=================  ==========================================================
"""

"""`qnn_lite.transforms`: model in, model out — fake-quant wrapping, PTQ, QAT, integer-only conversion.

A transform takes a model (an ``nn.Module``) and returns a quantized one, or is a layer such a
model is built from. Modules here may import :mod:`qnn_lite.quantizers` and :mod:`qnn_lite.hw`,
never ``recipes``, ``train`` or ``data`` (``tests/test_layering.py`` checks it).

=================  ==========================================================
module             what it holds
=================  ==========================================================
``fake_quant``     FakeQuantize modules (observer + fake quant), QConfig
``layers``         QuantLinear, QuantConv2d, QuantAct, QuantReLU(6), QuantAdd, QuantAdaptiveAvgPool2d
``bnn``            binary / ternary / k-bit layers with a chosen weight quantizer and estimator
``xnor``           to_xnor: a fake-binary model's BinaryConv2d layers run on the XNOR-popcount kernel
``lowprec``        fixed-point rounding and SGD, DoReFa layers with quantized gradients
``ptq``            BN folding, prepare / calibrate / convert, bias correction, ``ptq``
``qat``            prepare_qat: fake quant and observers on while training
``record``         record what each activation quantizer sees; PTQ from recorded samples
``requant``        fixed-point multipliers (M0, shift), gemmlowp rounding, add / concat
``integer``        integer-only inference (Jacob et al. 2018): convert_to_integer (chains, or traced graphs)
``integer_layers`` the integer layers: int32 GEMM (grouped / depthwise too), requantize, add, pooling
``capture``        find, swap and listen to a model's Linear layers (what GPTQ/AWQ/SmoothQuant calibrate on)
``gptq``           GPTQ: column-by-column OBS updates with the Cholesky of the inverse Hessian
``awq``            AWQ: activation-aware per-channel weight scaling searched on calibration data
``smoothquant``    SmoothQuant: migrate activation outliers into the weights with alpha
``llm_quant``      a TinyGPT quantized: RTN, W8A8, formats, KV cache; quantize_tinygpt names every method
``sensitivity``    per-layer PTQ sensitivity: one layer quantized at a time
``hessian``        Hessian trace per layer by Hutchinson's estimator (HAWQ-v2)
``cost``           what a bit allocation costs: size, BitOPs, Bit Fusion cycles / energy, roofline latency
``mixed_precision``  mixed-precision allocation under a budget (greedy, exact DP) and its QConfigs
``equalize``       cross-layer equalization (Nagel et al. 2019) and high-bias absorption
``bias_correction``  bias correction: analytic from BN statistics (data-free) and empirical
``synthetic``      synthetic calibration data: ZeroQ (BN-statistics matching) and DSG
``adaround``       AdaRound: learned rounding layer by layer, annealed regulariser
=================  ==========================================================
"""

"""`qnn_lite.quant`: every quantizer the book teaches, one idea per module.

=================  ==========================================================
module             what it holds
=================  ==========================================================
``uniform``        qrange, calc_qparams, quantize / dequantize, fake_quantize
                   (bit-exact with PyTorch 2.13)
``observers``      MinMax, moving-average, per-channel, percentile, MSE
``histogram``      HistogramObserver (PyTorch's L2 search over 2048 bins)
``ste``            straight-through estimators: identity, clipped, Bi-Real,
                   IR-Net EDE, swish-sign; ``sign`` with sign(0) = +1
``lsq``            LSQ, PyTorch's learnable fake quant
``learned``        PACT, DoReFa (weights, activations, gradients)
``stochastic``     stochastic rounding and gradient quantization
``binary``         XNOR-Net, IR-Net Libra-PB, 0/1 activations
``ternary``        TWN, TTQ, soft-threshold ternary
``cluster``        k-means weight sharing, codebook fine-tuning, Huffman size
``log``            power-of-two (log- and value-domain rounding), multi-hot, mu-law
``fake_quant``     FakeQuantize modules (observer + fake quant), QConfig
``layers``         QuantLinear, QuantConv2d, QuantAct, QuantReLU
``ptq``            BN folding, prepare / calibrate / convert, bias correction
``qat``            prepare_qat, QAT fine-tuning after PTQ
``requant``        fixed-point multipliers (M0, shift), gemmlowp rounding, add/concat
``integer``        integer-only inference (Jacob et al. 2018): convert_to_integer
=================  ==========================================================
"""
from .uniform import *  # noqa: F401,F403
from .observers import *  # noqa: F401,F403
from .histogram import *  # noqa: F401,F403
from .ste import *  # noqa: F401,F403
from .lsq import *  # noqa: F401,F403
from .learned import *  # noqa: F401,F403
from .stochastic import *  # noqa: F401,F403
from .binary import *  # noqa: F401,F403
from .ternary import *  # noqa: F401,F403
from .cluster import *  # noqa: F401,F403
from .log import *  # noqa: F401,F403
from .fake_quant import *  # noqa: F401,F403
from .layers import *  # noqa: F401,F403
from .ptq import *  # noqa: F401,F403
from .qat import *  # noqa: F401,F403
from .requant import *  # noqa: F401,F403
from .integer import *  # noqa: F401,F403
import sys as _sys

_MODULES = ("uniform", "observers", "histogram", "ste", "lsq", "learned", "stochastic", "binary",
            "ternary", "cluster", "log", "fake_quant", "layers", "ptq", "qat", "requant", "integer")
# note: the name `ptq` here is the convenience function; the module is qnn_lite.quant.ptq
__all__ = list(dict.fromkeys(name for m in _MODULES for name in _sys.modules[f"{__name__}.{m}"].__all__))

"""Hardware simulators: a cycle-level systolic array, Bit Fusion bit-bricks, roofline, energy."""
from .estimate import (estimate_cycles, estimate_sram_accesses, conv_gemm_shape,  # noqa: F401
                       scalesim_mapping)
from .lowering import im2col  # noqa: F401
from .systolic import SystolicArray, SystolicReport  # noqa: F401
from .bitbrick import (BitBrick, FusionUnit, BitFusionArray, BitFusionReport,  # noqa: F401
                       products_per_cycle)
from .roofline import (DEVICES, Device, attainable, gemm_intensity,  # noqa: F401
                       conv2d_intensity, roofline_points)
from .energy import (HOROWITZ_PJ, add_energy, mult_energy, layer_energy,  # noqa: F401
                     systolic_energy, sram_energy_per_bit, LayerEnergy)

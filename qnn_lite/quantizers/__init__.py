"""`qnn_lite.quantizers`: the quantizer ops — functions, Functions and Modules on arrays and Tensors."""

"""`qnn_lite.transforms`: model in, model out — fake-quant wrapping, PTQ, QAT, integer-only conversion."""

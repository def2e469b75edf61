"""`qnn_lite.recipes`: the chapters' experiments — training recipes and the tables the chapters print.

A recipe puts quantizers and transforms to work on data: it trains, evaluates and tabulates.
Recipes may import anything in the library except ``viz``.

=================  ==========================================================
module             what it holds
=================  ==========================================================
``digits``         the digits loaders, the trainer (explicit ``cache=``), compare_to_float
``experiments``    chapter 5: the biased coin, learned clips, LSQ's gradient scale, PTQ vs QAT tables
``finetune``       qat_finetune: QAT after PTQ (Krishnamoorthi, 2018)
``bnn_mlp``        chapter 6: the quantized MLP, its training recipe and bit-width table
``binary_resnet``  chapter 6: the binary CNN (plain / Bi-Real shortcut / IR-Net), its float twin and training
``compare``        chapter 7: uniform, PoT, k-means and mu-law side by side at equal bits
``sqnr``           chapter 3: measured vs predicted SQNR per bit width
``dorefa``         chapter 8: the DoReFa W/A/G MLP, its training and table
``kernel_bench``   chapter 9: kernel timings (float vs binary, bit-serial, int8)
``hardware``       chapter 10: an integer layer's GEMM run on a simulated array
``llm_tables``     chapter 13: perplexity of the shipped TinyGPT under each quantization method
``mixed_precision``  chapter 11: uniform vs mixed precision at equal cost, the accuracy-cost frontier
``zoo_quant``      chapters 4-5 on the zoo: per-tensor vs per-channel, first/last layers, W4A8 PTQ/QAT table
=================  ==========================================================
"""

"""Benchmarks: `python -m codefusion.bench train|sample|device CONFIG [key=value ...] [bench.KEY=VALUE ...]`.

    common.py   the command line (config items + `bench.` options, one typed grammar), timing,
                the matmul peak every figure is compared with, memory
    train.py    training throughput, Lightning's overhead, FLOPs and their share of the peak
    sample.py   ms per denoising step and per example against the bare forward and the peak
    device.py   the prepared GPU check: training MFU, sampling ms per example, memory and CUDA
                correctness in one run (`bench.smoke=true`: the same code on a tiny CPU config)

Each imports `common` and nothing above it (`device` uses `train`'s and `sample`'s functions).
"""

"""Generation: from a trained checkpoint to ranked candidates, on one or many devices.

    contract.py    Generation, TrajectoryPoint, the Generator contract, ranking, the first </s>
    codefusion.py  CodeFusionGenerator (built once; each call takes SamplingOptions), CodeFusionSampling
    options.py     GenerateOptions (any system), SampleOptions (sample.py), one key=value grammar
    inputs.py      sample.py's input rows and their encoding
    records.py     Generation -> output records and trajectory rows (log-probability or MBR ranking)
    outputs.py     output paths checked first, results written atomically
    devices.py     Lightning's predict loop: shards, devices, precision
    trajectory.py  python -m codefusion.trajectory plot/show

The baselines' generator is codefusion/baselines/generation.py; `codefusion.systems.load_generator`
loads either from a checkpoint.
"""
from codefusion.generation.contract import Generation, Generator, TrajectoryPoint, decode_code

__all__ = ["Generation", "Generator", "TrajectoryPoint", "decode_code"]

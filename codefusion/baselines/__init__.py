"""Autoregressive baselines of the paper's Table 1 (fine-tuned T5 / CodeT5 / CodeGen).

    networks.py     the Hugging Face models (seq2seq T5, decoder-only GPT-2 / CodeGen) and the
                    decoder-only input layout; plain typed arguments, no config
    system.py       BaselineSystem, the LightningModule train.py uses for system=seq2seq|causal_lm
    generation.py   generate_baseline (beam search, sampling, diverse beam search) -> Generation,
                    BaselineGenerator (the Generator contract), load_baseline, decoding_options
    diverse_beam.py diverse (group) beam search, which transformers 5 no longer ships
"""

"""Every metric of the CodeFusion paper, as plain functions (see docs/evaluation.md).

    syntax_valid(code, language)            -> bool    python / bash (tree-sitter), cf (own parser)
    template_match(pred, ref)               -> float   NL2Bash template match, in [0, 1]
    template_accuracy(pred, ref)            -> bool    templates equal
    execution_match(pred, ref, table)       -> bool    CF rules: same result on every row
    exact_match(pred, ref, language)        -> bool    after light normalisation
    codebertscore(preds, refs, language, model=None) -> dict of precision/recall/f1/f3 lists
    diversity(candidates, tokenizer=None, encoder=...) -> dict of distinct-n, cosine, edit distance
    oracle_top_k(scores, k), top_1(scores), mean_top_k(per_input, ks)

`python -m codefusion.evaluate predictions=FILE.jsonl` scores a prediction file with all of them.
"""

from codefusion.evaluation.codebert import codebertscore
from codefusion.evaluation.diversity import diversity
from codefusion.evaluation.exact import exact_match
from codefusion.evaluation.execution import execution_match
from codefusion.evaluation.topk import mean_top_k, oracle_top_k, top_1
from codefusion.languages.bash_template import template_accuracy, template_match
from codefusion.languages.syntax import syntax_valid

__all__ = [
    "syntax_valid",
    "template_match",
    "template_accuracy",
    "execution_match",
    "exact_match",
    "codebertscore",
    "diversity",
    "oracle_top_k",
    "top_1",
    "mean_top_k",
]

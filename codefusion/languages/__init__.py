"""The three target languages, as both data preparation and evaluation need them.

    names.py           python | bash | cf: the names and their aliases
    syntax.py          tree-sitter parsing (Python, Bash) and CF rule validity
    cf_rules.py        the CF rule grammar: parser and printer
    cf_interpreter.py  CF rules evaluated on a table (execution match)
    bash_*.py          Bash commands read as NL2Bash's template-match metric reads them

Nothing here imports from data/ or evaluation/; both import from here.
"""

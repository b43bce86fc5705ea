"""`python -m cdp.demo [--seed N] [--people N] [--out demo.jsonl]`: write demo events, print a summary."""

from cdp.demo.generate import main

main()

"""Does the recipe's network use the digit's label as a one-hot condition?

    python bench/probes/cond.py 500 [section.key=value ...]

Trains for the given steps with condition dropout 0.1, then samples 3 videos per
digit (DDIM 32 steps) at guidance 0 and 2 and prints the share of frames the
digit classifier gives the asked-for label (chance 0.1).
"""

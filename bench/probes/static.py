"""Frame coupling of the recipe's network trained on identical or moving frames.

    python bench/probes/static.py static 300   # every frame the same image
    python bench/probes/static.py moving 300   # the MovingDigits videos

Trains the README recipe's network for the given steps (one `fit`), then prints
`kvdm.metrics.frame_coupling` at log-SNR -6, -4, -2, 0 and 2 on 16 test videos.
"""

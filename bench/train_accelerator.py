"""Trains a MovingDigits recipe on JAX or PyTorch alone, for a fixed wall time.

    python bench/train_accelerator.py recipes/moving_digits_preset.yaml \
        --run runs/preset-moving_digits --minutes 7

For a machine with an accelerator and JAX or PyTorch but no TensorFlow (so
no tf.data): batches come from `MovingDigits.numpy_batch`, which renders
exactly the batches of the recipe's tf.data pipeline, rendered one batch
ahead on a thread. A text-conditioned recipe reads its caption embeddings
from a `caption_embeddings.npz` made beforehand where the encoder is
installed (`--captions`; `python bench/train_accelerator.py RECIPE
--write-captions FILE` writes it), so the encoder does not travel either.

Training runs `Model.fit` on the recipe's `VideoDiffusion` until
`train.steps` or `--minutes`, whichever comes first, then writes a run
folder like `kvdm train` does: `recipe.yaml` (with `train.steps` set to the
steps taken), `checkpoints/step-N/` and `model.keras` (the EMA model).
`bench/make_preset.py RECIPE --name NAME --trained DIR` then measures and
packs it on any machine.
"""

import argparse
import json
import os
import queue
import threading
import time

import numpy as np


def caption_table(path):
    """`(captions, table)` from a `caption_embeddings.npz`: a zero-padded
    float32 `(N + 1, L, D)` table whose last row is the null condition."""
    from kvdm.training.caption_cache import pad_rows
    from kvdm.training.caption_cache import read_cache_file

    _, rows = read_cache_file(path)
    if not rows:
        raise SystemExit(f"{path} holds no caption embeddings.")
    captions = list(rows)
    hidden_dim = rows[captions[0]].shape[-1]
    null = np.zeros((0, hidden_dim), np.float32)
    return captions, pad_rows([rows[c] for c in captions] + [null], hidden_dim)


def write_captions(recipe, path):
    """Embeds the recipe's training captions once, into `path`."""
    from kvdm.data import MovingDigits
    from kvdm.text import load_text_encoder
    from kvdm.training.caption_cache import CaptionCache

    source = _source(recipe, MovingDigits)
    cache = CaptionCache(load_text_encoder(recipe.model.text_encoder), path)
    vocabulary = source.caption_vocabulary()
    cache.table(vocabulary)
    print(f"{len(vocabulary)} captions embedded into {path}")


def _source(recipe, moving_digits):
    data = recipe.data
    if data.name != "moving_digits":
        raise SystemExit(f"Only moving_digits recipes train here. Received: data.name={data.name!r}")
    return moving_digits(
        data.split, num_frames=data.num_frames, image_size=data.image_size,
        num_digits=data.num_digits, seed=recipe.train.seed,
    )


def element_at(step, source, recipe, table=None, rows=None):
    """Batch `step` of the recipe's training stream (numpy); `rows` maps a
    caption to its row of `table`."""
    image_frames = recipe.diffusion.num_image_frames if recipe.data.independent_images else 0
    element = source.numpy_batch(step, recipe.train.batch_size, image_frames=image_frames)
    text = element.pop("caption", None)
    if table is not None:
        element["condition"] = table[[rows[c] for c in text]]
    return element


def batches(source, recipe, table=None, rows=None, start=0):
    """Yields `(element,)` for the recipe's training batches from `start` on, rendered ahead."""
    ahead = queue.Queue(maxsize=4)

    def render():
        step = start
        while True:
            ahead.put((element_at(step, source, recipe, table, rows),))
            step += 1

    threading.Thread(target=render, daemon=True).start()
    while True:
        yield ahead.get()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe")
    parser.add_argument("--run", help="run folder to write")
    parser.add_argument("--minutes", type=float, default=None, help="stop after this much training")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--captions", default=None, help="caption_embeddings.npz of a text recipe")
    parser.add_argument("--write-captions", default=None, metavar="FILE",
                        help="embed the recipe's captions into FILE and exit")
    parser.add_argument("--log-every", type=int, default=200)
    parser.add_argument("--export-every", type=float, default=2.0, metavar="MINUTES",
                        help="export the EMA model this often while training (0: only at the end)")
    args = parser.parse_args()

    from kvdm.config import load_recipe

    recipe = load_recipe(args.recipe, overrides=args.overrides)
    if args.write_captions:
        write_captions(recipe, args.write_captions)
        return
    if not args.run:
        raise SystemExit("--run is required to train.")
    os.environ.setdefault("KERAS_BACKEND", recipe.train.backend)

    import keras

    from kvdm.data import MovingDigits
    from kvdm.training import builders
    from kvdm.training import checkpoint as checkpoint_lib
    from kvdm.training import sampling

    builders.check_backend(recipe)
    table = rows = None
    if recipe.model.text_encoder is not None:
        if not args.captions:
            raise SystemExit("A text recipe needs --captions FILE (see --write-captions).")
        captions, table = caption_table(args.captions)
        rows = {caption: row for row, caption in enumerate(captions)}
    source = _source(recipe, MovingDigits)
    video_shape = source.video_shape()
    keras.utils.set_random_seed(recipe.train.seed)
    builders.set_precision(recipe)
    stream = batches(source, recipe, table, rows)
    example = element_at(0, source, recipe, table, rows)
    model = builders.build_training_model(recipe, video_shape, example)

    started = time.perf_counter()
    limit = None if args.minutes is None else 60.0 * args.minutes
    export = os.path.join(args.run, "model.keras")
    os.makedirs(args.run, exist_ok=True)
    log = []

    class Progress(keras.callbacks.Callback):
        """Logs the mean loss of each window of steps, exports the EMA model
        every `--export-every` minutes (so a cut-off run still leaves one)
        and stops at `--minutes`."""

        last = (0, 0.0)
        exported = 0.0

        def on_train_batch_end(self, batch, logs=None):
            step = batch + 1
            elapsed = time.perf_counter() - started
            if step % args.log_every == 0:
                mean = float(logs["loss"])  # running mean since the start of fit
                count, total = self.last
                window = (mean * step - total) / (step - count)
                self.last = (step, mean * step)
                log.append({"step": step, "seconds": round(elapsed, 1), "loss": round(window, 5)})
                print(json.dumps(log[-1]), flush=True)
            if args.export_every and elapsed - self.exported > 60.0 * args.export_every:
                sampling.export_ema_model(self.model, recipe, video_shape, export)
                self.exported = elapsed
                print(f"exported the EMA model at step {step}", flush=True)
            if limit is not None and elapsed > limit:
                self.model.stop_training = True

    model.fit(stream, epochs=1, steps_per_epoch=recipe.train.steps, callbacks=[Progress()], verbose=0)
    seconds = round(time.perf_counter() - started, 3)
    step = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    recipe = recipe.with_overrides([f"train.steps={step}"])
    recipe.save(os.path.join(args.run, "recipe.yaml"))
    checkpoint_lib.save_checkpoint(
        args.run, model, recipe, step, keep=1,
        extra={"video_shape": list(video_shape), "train_seconds": seconds},
    )
    sampling.export_ema_model(model, recipe, video_shape, export)
    with open(os.path.join(args.run, "train_log.json"), "w") as handle:
        json.dump({"steps": step, "seconds": seconds, "log": log}, handle, indent=1)
    print(f"{step} steps in {seconds:.0f} s ({seconds / max(step, 1):.4f} s/step); run written to {args.run}")


if __name__ == "__main__":
    main()

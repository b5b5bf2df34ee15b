"""Draws the space-time U-Net figure of docs/concepts/architecture.md.

The left panel is read from a built `VideoUNet` (by default the network of
recipes/moving_digits.yaml), so it shows the blocks the code creates, in
order, at their feature-map sizes; the right panel shows what each kind of
block mixes in a video tensor.

    python docs/scripts/unet_figure.py --output docs/assets/concepts/video_unet.svg
"""

import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import patches  # noqa: E402

COLORS = {
    "ResBlock": "#9ecae1",
    "SpatialAttention": "#fdae6b",
    "TemporalAttention": "#a1d99b",
    "SpaceTimeAttention": "#dadaeb",
    "SpatialDownsample": "#bdbdbd",
    "SpatialUpsample": "#bdbdbd",
    "VideoContext": "#fa9fb5",
}
LABELS = {
    "ResBlock": "residual block (1x3x3 convs)",
    "SpatialAttention": "spatial attention",
    "TemporalAttention": "temporal attention",
    "SpaceTimeAttention": "space-time attention",
    "SpatialDownsample": "down / upsampling",
    "VideoContext": "video context",
}


def built_unet(recipe_path):
    import numpy as np

    from kvdm.config import load_recipe
    from kvdm.models import VideoUNet

    recipe = load_recipe(recipe_path)
    kwargs = recipe.model.unet_kwargs()
    if recipe.model.preset is not None:
        unet = VideoUNet.from_preset(recipe.model.preset, **kwargs)
    else:
        unet = VideoUNet(**kwargs)
    size = recipe.data.image_size
    video = np.zeros((1, recipe.data.num_frames, size, size, 1), "float32")
    unet(video, np.zeros((1,), "float32"))
    return unet, recipe


def stages(unet, size):
    """`[(path, level, [class names])]`: the blocks grouped by stage."""
    result = []

    def level_of(layer):
        # Resampling layers are drawn at the level of their output, so
        # that every skip connection joins two stages of one level.
        name = layer.name
        if name.startswith("middle"):
            return len(unet.channel_multipliers) - 1
        level = int(name.split("_")[1])
        if name.endswith("_downsample"):
            return level + 1
        if name.endswith("_upsample"):
            return level - 1
        return level

    for path, layers in (("down", unet.down_layers), ("middle", unet.middle_layers), ("up", unet.up_layers)):
        current = None
        for layer in layers:
            kind = type(layer).__name__
            level = level_of(layer)
            starts = kind in ("ResBlock", "SpatialDownsample", "SpatialUpsample") and not (
                path == "middle" and current is not None)
            if current is None or starts:
                current = (path, level, [])
                result.append(current)
            current[2].append(kind)
    return result


def draw_unet(axis, unet, recipe):
    size = recipe.data.image_size
    levels = len(unet.channel_multipliers)
    groups = stages(unet, size)
    width, gap = 0.5, 0.35
    skip_sources = []
    x = 0.0
    positions = []
    for path, level, kinds in groups:
        y = levels - 1 - level
        for offset, kind in enumerate(kinds):
            axis.add_patch(patches.FancyBboxPatch(
                (x, y + 0.08 + 0.22 * offset), width, 0.2, boxstyle="round,pad=0.01",
                facecolor=COLORS.get(kind, "white"), edgecolor="#555555", linewidth=0.6))
        positions.append((x, y, path, kinds))
        x += width + gap
    # Arrows between consecutive stages.
    for (x0, y0, _, _), (x1, y1, _, _) in zip(positions, positions[1:]):
        axis.annotate("", xy=(x1, y1 + 0.18), xytext=(x0 + width, y0 + 0.18),
                      arrowprops=dict(arrowstyle="->", color="#333333", linewidth=0.6))
    # Skip connections: each down stage to the up residual block that takes it.
    downs = [p for p in positions if p[2] == "down"]
    ups = [p for p in positions if p[2] == "up" and p[3][0] == "ResBlock"]
    sources = [(-0.6 - width / 2, levels - 1, ["input"])] + [(p[0], p[1], p[3]) for p in downs]
    for (xs, ys, kinds), (xu, yu, _, _) in zip(reversed(sources), ups):
        top_source = ys + 0.08 + 0.22 * len(kinds)
        top_target = yu + 0.08 + 0.22 * 3
        axis.annotate("", xy=(xu + width / 2, top_target), xytext=(xs + width / 2, top_source),
                      arrowprops=dict(arrowstyle="->", color="#756bb1", linewidth=0.6,
                                      connectionstyle="arc3,rad=-0.12", linestyle="--"))
    for level in range(levels):
        y = levels - 1 - level
        channels = unet.base_channels * unet.channel_multipliers[level]
        axis.text(-0.9, y + 0.3, f"{size // 2 ** level}x{size // 2 ** level}\n{channels} ch",
                  ha="right", va="center", fontsize=7)
    axis.text(-0.6, levels - 1 + 0.3, "input\nconv", ha="center", va="center", fontsize=6)
    axis.text(x - gap + 0.25, levels - 1 + 0.3, "output\nconv", ha="center", va="center", fontsize=6)
    axis.set_xlim(-2.2, x + 0.5)
    axis.set_ylim(-0.3, levels + 0.3)
    axis.axis("off")
    frames = recipe.data.num_frames
    axis.set_title(f"VideoUNet of recipes/moving_digits.yaml: {frames} frames of {size}x{size}, "
                   f"dashed: skip connections", fontsize=8)
    handles = [patches.Patch(facecolor=COLORS[k], edgecolor="#555555", label=LABELS[k])
               for k in LABELS if any(k in kinds for *_, kinds in positions) or k == "SpatialDownsample"]
    axis.legend(handles=handles, loc="lower center", fontsize=6.5, ncol=3, frameon=False,
                bbox_to_anchor=(0.5, -0.12))


def draw_factorization(axis):
    """A video tensor as a row of frames; what each block mixes."""
    frames, cells = 5, 4
    size, spacing = 0.9, 1.15
    for t in range(frames):
        x0 = t * spacing
        for i in range(cells):
            for j in range(cells):
                axis.add_patch(patches.Rectangle((x0 + j * size / cells, i * size / cells), size / cells,
                                                 size / cells, facecolor="white", edgecolor="#999999", linewidth=0.4))
        axis.text(x0 + size / 2, -0.12, f"frame {t}", ha="center", va="top", fontsize=6)
    # 1x3x3 convolution: a 3x3 window within frame 0.
    axis.add_patch(patches.Rectangle((0, size / cells), 3 * size / cells, 3 * size / cells, facecolor="#9ecae1",
                                     alpha=0.6, edgecolor="#3182bd"))
    # Spatial attention: the whole of frame 2.
    axis.add_patch(patches.Rectangle((2 * spacing, 0), size, size, facecolor="#fdae6b", alpha=0.5,
                                     edgecolor="#e6550d"))
    # Temporal attention: one position in every frame.
    for t in range(frames):
        axis.add_patch(patches.Rectangle((t * spacing + 2 * size / cells, 2 * size / cells), size / cells,
                                         size / cells, facecolor="#31a354", alpha=0.8, edgecolor="#006d2c"))
    axis.text(0.35, 1.0, "1x3x3 conv:\n3x3 window\nin one frame", ha="center", va="bottom", fontsize=6.5)
    axis.text(2 * spacing + size / 2, 1.0, "spatial attention:\nall positions\nof one frame", ha="center",
              va="bottom", fontsize=6.5)
    axis.text(4 * spacing + size / 2, 1.0, "temporal attention:\none position\nacross frames", ha="center",
              va="bottom", fontsize=6.5)
    axis.set_xlim(-0.2, frames * spacing)
    axis.set_ylim(-0.5, 1.6)
    axis.set_aspect("equal")
    axis.axis("off")
    axis.set_title("what each block mixes", fontsize=8)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="recipes/moving_digits.yaml")
    parser.add_argument("--output", default="docs/assets/concepts/video_unet.svg")
    args = parser.parse_args()
    unet, recipe = built_unet(args.recipe)
    plt.rcParams["svg.fonttype"] = "none"
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6), gridspec_kw={"width_ratios": [2.2, 1]})
    draw_unet(left, unet, recipe)
    draw_factorization(right)
    figure.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    figure.savefig(args.output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()

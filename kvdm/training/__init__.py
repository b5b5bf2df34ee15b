"""Training runs: `train(recipe, output_dir, resume)` and checkpoints."""

from kvdm.training.checkpoint import latest_checkpoint
from kvdm.training.checkpoint import list_checkpoints
from kvdm.training.checkpoint import read_meta
from kvdm.training.checkpoint import restore_checkpoint
from kvdm.training.checkpoint import save_checkpoint
from kvdm.training.sampling import LoadedModel
from kvdm.training.sampling import load_for_sampling
from kvdm.training.sampling import make_sampler
from kvdm.training.sampling import write_videos
from kvdm.training.trainer import TrainResult
from kvdm.training.trainer import train

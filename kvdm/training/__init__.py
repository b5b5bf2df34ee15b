"""Training runs: `train(recipe, output_dir, resume)` and checkpoints."""

from kvdm.training.caption_cache import CaptionCache
from kvdm.training.checkpoint import CheckpointError
from kvdm.training.checkpoint import CheckpointWarning
from kvdm.training.checkpoint import latest_checkpoint
from kvdm.training.checkpoint import list_checkpoints
from kvdm.training.checkpoint import read_meta
from kvdm.training.checkpoint import restore_checkpoint
from kvdm.training.checkpoint import save_checkpoint
from kvdm.training.checkpoint import verify_checkpoint
from kvdm.training.ema import ema_weights
from kvdm.training.ema import keep_raw_weights_after_fit
from kvdm.training.ema import swap_ema_weights
from kvdm.training.run_lock import RunLock
from kvdm.training.run_lock import RunLockedError
from kvdm.training.runs import LoadedModel
from kvdm.training.runs import load_for_sampling
from kvdm.training.sampling import generate
from kvdm.training.sampling import make_sampler
from kvdm.training.sampling import prompt_condition
from kvdm.training.trainer import TrainResult
from kvdm.training.trainer import train

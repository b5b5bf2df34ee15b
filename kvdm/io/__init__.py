"""Reading and writing videos (MP4, GIF, PNG grids)."""

from kvdm.io.video_io import read_video, to_uint8, write_gif, write_mp4, write_png_grid
from kvdm.io.writers import VIDEO_SUFFIXES, check_video_suffix, tile_videos, write_videos

__all__ = [
    "VIDEO_SUFFIXES",
    "check_video_suffix",
    "read_video",
    "tile_videos",
    "to_uint8",
    "write_gif",
    "write_mp4",
    "write_png_grid",
    "write_videos",
]

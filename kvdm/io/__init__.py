"""Reading and writing videos (MP4, GIF, PNG grids)."""

from kvdm.io.video_io import read_video, to_uint8, write_gif, write_mp4, write_png_grid

__all__ = ["read_video", "to_uint8", "write_gif", "write_mp4", "write_png_grid"]

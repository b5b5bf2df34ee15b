from kvdm.models.video_unet import VideoUNet
from kvdm.models.video_unet_presets import VIDEO_UNET_PRESETS

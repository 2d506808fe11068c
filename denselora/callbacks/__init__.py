"""Lightning callbacks of the trainer."""

from denselora.callbacks.freeze_encoder_decoder import FreezeEncoderDecoder
from denselora.callbacks.latest_checkpoint import LatestCheckpoint
from denselora.callbacks.prediction_writer import PredictionWriter
from denselora.callbacks.resume_check import ResumeCheck
from denselora.callbacks.update_density import UpdateDensityMonitor

__all__ = ["FreezeEncoderDecoder", "LatestCheckpoint", "PredictionWriter", "ResumeCheck", "UpdateDensityMonitor"]

"""Library chatter a user cannot act on, silenced once per process (training, the parts, the CLI's workers)."""

from __future__ import annotations

import logging
import warnings


def quiet_libraries() -> None:
    """Silence library chatter that says nothing to a user: Lightning's GPU/TPU lines and tips, transformers'
    "Loading weights" / "Writing model shards" bars, torch.load's weights_only notices."""
    import lightning.pytorch  # noqa: F401  first: importing it sets its loggers to INFO, undoing a level set before
    import transformers  # deferred: a heavy import, and callers may not need it otherwise
    for name in ("lightning.pytorch", "lightning.fabric"):  # info lines only (GPU/TPU, tips, weights_only)
        logging.getLogger(name).setLevel(logging.WARNING)
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    for msg in (".*weights_only.*", ".*litlogger.*", ".*generation_config.*"):
        warnings.filterwarnings("ignore", message=msg)
    # deprecation chatter from the pinned libraries, not actionable by users
    for msg in (".*is_gradient_checkpointing.*", ".*LeafSpec.*", ".*does not have many workers.*"):
        warnings.filterwarnings("ignore", message=msg)
    # A resume continues in its run folder (train() merges the CSV log), and the batch sampler resumes by step
    # (BucketBatchSampler's `start`), so these three are expected and wrong here.
    for msg in (".*logs directory .* exists and is not empty.*", ".*Checkpoint directory .* exists and is not empty.*",
                ".*your dataloader is not resumable.*"):
        warnings.filterwarnings("ignore", message=msg)

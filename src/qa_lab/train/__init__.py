"""Training: the thin LightningModule, run folders and the Trainer, and the kit-pretrained parts."""

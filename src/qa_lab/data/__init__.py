"""Audio, manifests, corpora and batches: audio I/O and log-mel, JSONL manifests, corpus adapters, atomic cached
folders, the dataset, collator, sampler and datamodule."""

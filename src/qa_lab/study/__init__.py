"""Studies over runs: the ablation runner, its statistics, interference and listening probes, and plots."""

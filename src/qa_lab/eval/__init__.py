"""Evaluation: decode, parse and score every task with the paper's metrics (`qa_lab.eval.metrics`, one function each).

    from qa_lab.eval import evaluate, score, load_metrics, markdown_table
    metrics = evaluate(model, cfg, examples, out_dir="runs/x/eval/test")   # decode + score + write
    metrics, rows = score(examples, outputs)                               # score outputs you already have
    load_metrics("runs/x/<time>")                                          # a run's newest eval
"""

from qa_lab.eval.harness import (
    eval_examples, evaluate, load_metrics, markdown_table, parse_output, score, score_task, write,
)

__all__ = ["eval_examples", "evaluate", "load_metrics", "markdown_table", "parse_output", "score",
           "score_task", "write"]

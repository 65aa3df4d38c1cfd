#!/usr/bin/env bash
# bench/train_compare.sh: relate's word-vector trainer next to gensim and fastText.
#
# What it measures, side by side in one run, on one corpus with the same settings for
# every tool (100-d, window 5, 5 negatives, sample 1e-4, min-count 5, EPOCHS epochs,
# THREADS threads, negative sampling, no hierarchical softmax):
#   - speed: words/s per thread over each tool's training phase, computed the same way for
#     all tools: corpus words (tokens per epoch after min-count, counted once by this script)
#     x epochs / training seconds / threads; next to it each tool's own figure, the
#     vocabulary-building seconds, the training seconds and the wall time of the command;
#   - quality: every tool's vectors go into one scratch relate database and are scored by
#     the same relate evaluator: WS-353 and SimLex-999 (Spearman rho) and the Google
#     analogies restricted to the 30,000 most frequent words.
# Runs (RUNS picks a subset): relate-sg relate-cbow relate-sg-subword gensim-sg gensim-cbow
#   fasttext-sg fasttext-cbow fasttext-sg-subword. "-subword" means character n-grams 3-6
#   in 2,000,000 hash buckets; the other runs have none (fastText: -minn 0 -maxn 0).
#   Learning rates are each tool's default for the architecture: relate 0.025 sg / 0.05
#   cbow, gensim 0.025 sg / 0.05 cbow (passed, word2vec's cbow value), fastText 0.05.
# Optional anchor, only when WORD2VEC names a binary of the original word2vec C tool (the
#   user's own build of Mikolov's word2vec.c, a version with -iter; nothing of it is part of
#   relate, and this script neither ships nor fetches it): runs word2vec-sg and word2vec-cbow,
#   tool name word2vec, with the same settings (-hs 0, -binary 0, -alpha 0.05 for cbow; it
#   has no seed option, so SEED does not apply to it). With WORD2VEC unset they do not exist
#   and "all" means the eight runs above. At the defaults word2vec-sg takes about 4 minutes,
#   word2vec-cbow about 1. Its threads keep an end-of-file flag across epochs, so the thread
#   that reaches the end of the corpus trains one epoch only; the report flags a run whose
#   last Progress figure falls short of 100%.
#
# How to run, from the project root, after building relate (cmake --build build -j2):
#   bash bench/train_compare.sh
# The default corpus is ../shared/data/corpus/gutenberg-text8style.txt.xz (95 MB, 18M
# tokens), decompressed once to ${TMPDIR:-/tmp}/relate-train-compare-corpus/ and reused.
# All eight runs at 5 epochs on 2 threads should take 1.5-2 hours, most of it fastText
# (estimated from its reference speed: its subword run alone about 45 minutes), and need
# about 3 GB of memory and 3 GB of scratch disk (two 2M-bucket subword models in the
# database, fastText's .bin, two copies of the corpus).
# A quick check on the first 10 MB, one epoch:
#   xz -dc ../shared/data/corpus/gutenberg-text8style-10MB.txt.xz > /tmp/corp10.txt
#   CORPUS=/tmp/corp10.txt EPOCHS=1 RUNS=relate-sg,gensim-sg bash bench/train_compare.sh
#
# Environment (defaults in brackets):
#   RELATE    relate binary [build/tools/relate]
#   DATA      the shared data folder [../shared/data, from the project root]
#   CORPUS    an already decompressed text file to train on instead of the default corpus
#   EPOCHS    [5]      THREADS  [2]      SEED  [1] (every tool's random seed)
#   RUNS      run names, or the tool names relate, gensim, fasttext (and word2vec when
#             WORD2VEC is set), separated by commas or spaces [all]
#   PYTHON    a python3 that can `import gensim` [the first of python3, /usr/bin/python3 that can]
#   FASTTEXT  fastText binary [fasttext]
#   WORD2VEC  a word2vec binary built from the original C source, e.g.
#             gcc word2vec.c -o word2vec -lm -pthread -O3 -march=native -funroll-loops
#             [unset: no word2vec runs]
#   OUT       the TSV file of raw per-run numbers [${TMPDIR:-/tmp}/relate-train-compare-DATE.tsv]
#   KEEP=1    keep the scratch directory (database, vector files, logs); by default it is
#             removed at the end (its logs are kept if a run failed)
#
# Output: the report (a Markdown table and notes) on stdout, progress on stderr, and the
# raw numbers in the TSV file, whose path the report prints. Exit status 0 when every
# selected run trained and evaluated, 1 when one failed (its row says FAILED), 2 on a usage
# or setup error.

set -euo pipefail

die() { echo "train_compare: $*" >&2; exit 2; }
say() { echo "[$(date +%H:%M:%S)] $*" >&2; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
abspath() { realpath -m -- "$1"; }   # relative to the caller's directory

RELATE=$(abspath "${RELATE:-$ROOT/build/tools/relate}")
DATA=$(abspath "${DATA:-$ROOT/../shared/data}")
EPOCHS=${EPOCHS:-5}
SEED=${SEED:-1}
THREADS=${THREADS:-2}
RUNS=${RUNS:-all}
FASTTEXT=${FASTTEXT:-fasttext}
WORD2VEC=${WORD2VEC:-}
SCRATCH_BASE=${TMPDIR:-/tmp}
OUT=$(abspath "${OUT:-$SCRATCH_BASE/relate-train-compare-$(date +%Y%m%d-%H%M%S).tsv}")

# The settings every tool gets.
DIM=100 WINDOW=5 NEGATIVE=5 SAMPLE=1e-4 MIN_COUNT=5 MINN=3 MAXN=6 BUCKETS=2000000
RESTRICT=30000
# gensim's corpus_file mode trains only the first 10,000 words of each worker's share of a
# one-line (text8-style) file, so gensim reads a copy cut into lines of this many words,
# its own maximum sentence length (as gensim's Text8Corpus does).
GENSIM_LINE_WORDS=10000

ALL_RUNS=(relate-sg relate-cbow relate-sg-subword gensim-sg gensim-cbow
          fasttext-sg fasttext-cbow fasttext-sg-subword)
TOOL_NAMES="relate, gensim, fasttext"
# The original word2vec, only with WORD2VEC set (the user's own build; see the top).
if [[ -n $WORD2VEC ]]; then
  ALL_RUNS+=(word2vec-sg word2vec-cbow)
  TOOL_NAMES+=", word2vec"
fi

[[ $EPOCHS =~ ^[1-9][0-9]*$ ]] || die "EPOCHS must be a positive integer (got '$EPOCHS')"
[[ $THREADS =~ ^[1-9][0-9]*$ ]] || die "THREADS must be a positive integer (got '$THREADS')"

# ---- which runs -------------------------------------------------------------------------
SELECTED=()
for want in ${RUNS//,/ }; do
  [[ -z $WORD2VEC && ($want == word2vec || $want == word2vec-*) ]] &&
    die "run '$want' in RUNS needs WORD2VEC=path/to/word2vec (a binary of the original word2vec C tool)"
  matched=0
  for r in "${ALL_RUNS[@]}"; do
    if [[ $want == all || $want == "$r" || $want == "${r%%-*}" ]]; then
      [[ " ${SELECTED[*]-} " == *" $r "* ]] || SELECTED+=("$r")
      matched=1
    fi
  done
  ((matched)) || die "unknown run '$want' in RUNS; runs are: ${ALL_RUNS[*]} (or $TOOL_NAMES, all)"
done
((${#SELECTED[@]})) || die "RUNS selects no run"
# Keep the canonical order whatever order RUNS gave.
ORDERED=()
for r in "${ALL_RUNS[@]}"; do [[ " ${SELECTED[*]} " == *" $r "* ]] && ORDERED+=("$r"); done
SELECTED=("${ORDERED[@]}")
need_tool() { [[ " ${SELECTED[*]} " == *" $1-"* ]]; }

# ---- checks -----------------------------------------------------------------------------
[[ -x $RELATE && -f $RELATE ]] || die "relate binary not found or not executable: $RELATE
  build it first (cmake --build build -j2 from the project root) or set RELATE=path/to/relate"
[[ -d $DATA ]] || die "data folder not found: $DATA
  it is ../shared/data next to the project root (or set DATA=path)"
WS353=$DATA/wordsim/EN-WS-353-ALL.txt
SIMLEX=$DATA/wordsim/EN-SIMLEX-999.txt
ANALOGY=$DATA/analogy/questions-words.txt
for f in "$WS353" "$SIMLEX" "$ANALOGY"; do
  [[ -f $f ]] || die "evaluation file missing from the data folder: $f"
done

HELPER_PY=
for p in ${PYTHON:-} python3 /usr/bin/python3; do
  if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import sys; assert sys.version_info >= (3, 6)' 2>/dev/null; then
    HELPER_PY=$(command -v "$p"); break
  fi
done
[[ -n $HELPER_PY ]] || die "no python3 found (needed for timing and parsing)"
GENSIM_PY=
if need_tool gensim; then
  for p in ${PYTHON:-} python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import gensim' 2>/dev/null; then
      GENSIM_PY=$(command -v "$p"); break
    fi
  done
  [[ -n $GENSIM_PY ]] || die "gensim runs selected but no python3 can import gensim
  (Debian: apt-get install python3-gensim; or set PYTHON=path/to/python3, or leave gensim out of RUNS)"
fi
if need_tool fasttext; then
  command -v "$FASTTEXT" >/dev/null 2>&1 || die "fastText runs selected but '$FASTTEXT' is not on PATH
  (Debian: apt-get install fasttext; or set FASTTEXT=path, or leave fasttext out of RUNS)"
  FASTTEXT=$(command -v "$FASTTEXT")
fi
WORD2VEC_DESC=
if need_tool word2vec; then
  WORD2VEC=$(abspath "$WORD2VEC")
  [[ -x $WORD2VEC && -f $WORD2VEC ]] || die "WORD2VEC is not an executable file: $WORD2VEC"
  # Run without arguments word2vec prints its usage; versions without -iter would silently
  # train one epoch.
  w2v_usage=$("$WORD2VEC" 2>&1 || true)
  [[ $w2v_usage == *"-iter <int>"* ]] || die "WORD2VEC=$WORD2VEC does not look like word2vec with the -iter option
  (its usage text lacks '-iter <int>'); build a newer word2vec.c"
  # word2vec writes its progress with stdio to a pipe: line-buffer it so that the end of the
  # vocabulary pass ("Words in train file") arrives when printed.
  command -v stdbuf >/dev/null 2>&1 || die "word2vec runs need stdbuf (coreutils) to time word2vec's phases"
  WORD2VEC_DESC="$WORD2VEC ($(head -n 1 <<<"$w2v_usage"), sha256 $(sha256sum "$WORD2VEC" | cut -c1-12)); the user's own build of the original word2vec C tool, not part of relate"
fi

case $OUT in "$ROOT"/*) die "OUT must be outside the repository (got $OUT)";; esac
mkdir -p "$(dirname "$OUT")" || die "cannot create the directory of OUT=$OUT"

# ---- corpus -----------------------------------------------------------------------------
if [[ -n ${CORPUS:-} ]]; then
  CORPUS_FILE=$(abspath "$CORPUS")
  [[ -f $CORPUS_FILE ]] || die "CORPUS file not found: $CORPUS_FILE"
  case $CORPUS_FILE in *.xz|*.gz|*.bz2|*.zst) die "CORPUS must be decompressed text: $CORPUS_FILE";; esac
else
  XZ=$DATA/corpus/gutenberg-text8style.txt.xz
  [[ -f $XZ ]] || die "corpus missing from the data folder: $XZ"
  CACHE=$SCRATCH_BASE/relate-train-compare-corpus
  CORPUS_FILE=$CACHE/gutenberg-text8style.txt
  want=$(xz --robot --list "$XZ" | awk '$1 == "totals" { print $5 }')
  if [[ ! -f $CORPUS_FILE || $(stat -c %s "$CORPUS_FILE") != "$want" ]]; then
    say "decompressing $XZ to $CORPUS_FILE (once)"
    mkdir -p "$CACHE"
    xz -dc "$XZ" > "$CORPUS_FILE.tmp.$$" || { rm -f "$CORPUS_FILE.tmp.$$"; die "xz failed on $XZ"; }
    mv "$CORPUS_FILE.tmp.$$" "$CORPUS_FILE"
  fi
fi
case $CORPUS_FILE in "$ROOT"/*) die "the corpus must not live inside the repository: $CORPUS_FILE";; esac

# ---- scratch ----------------------------------------------------------------------------
mkdir -p "$SCRATCH_BASE" || die "cannot create TMPDIR $SCRATCH_BASE"
SCRATCH=$(mktemp -d "$SCRATCH_BASE/relate-train-compare.XXXXXX")
DB=$SCRATCH/db
LOGS=$SCRATCH/logs
VECS=$SCRATCH/vectors
mkdir -p "$LOGS" "$VECS"
FAILED=0 STARTED=0
cleanup() {
  local rc=$?
  if [[ ${KEEP:-0} == 1 ]]; then
    say "kept the scratch directory $SCRATCH"
  elif ((STARTED)) && { ((FAILED)) || ((rc != 0)); }; then
    rm -rf "$DB" "$VECS" "$SCRATCH/corpus-lines.txt"
    say "logs kept in $LOGS (a run failed or was stopped)"
  else
    rm -rf "$SCRATCH"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- python helpers (timing, parsing, the report) -----------------------------------------
H=$SCRATCH/helpers.py
cat > "$H" <<'PY'
import json, os, re, resource, select, subprocess, sys, time
from collections import Counter


def jdump(obj, path):
    with open(path, "w") as f:
        json.dump(obj, f)
        f.write("\n")


def corpus_stats(corpus, min_count, out):
    """Tokens split on white space, as gensim and fastText read them (the corpus is text8
    style: lowercase a-z and spaces), counted once for all tools."""
    counts = Counter()
    rest = b""
    lines = 0
    with open(corpus, "rb") as f:
        while True:
            chunk = f.read(1 << 22)
            if not chunk:
                break
            lines += chunk.count(b"\n")
            chunk = rest + chunk
            cut = max(chunk.rfind(b" "), chunk.rfind(b"\n"))
            if cut < 0:
                rest = chunk
                continue
            counts.update(chunk[:cut].split())
            rest = chunk[cut:]
    counts.update(rest.split())
    kept = {w: c for w, c in counts.items() if c >= min_count}
    jdump({"bytes": os.path.getsize(corpus), "lines": lines,
           "raw_tokens": sum(counts.values()), "kept_tokens": sum(kept.values()),
           "vocabulary": len(kept), "types": len(counts)}, out)


def reflow(src, dst, max_words):
    """Copy src with every line cut into lines of at most max_words words. gensim's
    corpus_file mode needs it: on a text8-style file (one line) each worker trains only
    its first batch of 10,000 words an epoch and stops at end of file."""
    n = 0  # words on the output line so far
    rest = b""
    with open(src, "rb") as f, open(dst, "wb") as out:
        while True:
            chunk = f.read(1 << 22)
            data = rest + chunk
            if chunk:
                cut = max(data.rfind(b" "), data.rfind(b"\n"), data.rfind(b"\t"))
                if cut < 0:
                    rest = data
                    continue
                data, rest = data[:cut + 1], data[cut + 1:]
            for li, line in enumerate(data.split(b"\n")):
                if li > 0 and n:  # a line break of the source ends the output line
                    out.write(b"\n")
                    n = 0
                words = line.split()
                i = 0
                while i < len(words):
                    take = min(max_words - n, len(words) - i)
                    out.write((b" " if n else b"") + b" ".join(words[i:i + take]))
                    n += take
                    i += take
                    if n == max_words:
                        out.write(b"\n")
                        n = 0
            if not chunk:
                break
        if n:
            out.write(b"\n")


def exec_timed(out_json, stdout_path, stderr_path, cmd):
    """Run cmd, stdout and stderr to files; record wall seconds and peak RSS."""
    t0 = time.monotonic()
    with open(stdout_path, "wb") as so, open(stderr_path, "wb") as se:
        rc = subprocess.call(cmd, stdout=so, stderr=se)
    wall = time.monotonic() - t0
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    jdump({"rc": rc, "wall_seconds": wall, "peak_rss_mb": rss}, out_json)
    return rc


def fasttext_run(out_json, log_path, cmd):
    """Run fastText, reading its stderr as it comes and noting when the dictionary is done
    ("Number of labels") and when training ends (the newline after the \\r progress lines)."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    # std::cerr is unit-buffered: a line may come in several writes, so marker positions
    # are kept once found and searches resume a little before the new bytes.
    text = b""
    t_dict = t_end = None
    pos_labels = pos_prog = -1
    fd = p.stdout.fileno()
    with open(log_path, "wb") as log:
        while True:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            now = time.monotonic()
            log.write(chunk)
            start = max(0, len(text) - 32)
            text += chunk
            if pos_labels < 0:
                pos_labels = text.find(b"Number of labels", start)
            if t_dict is None and pos_labels >= 0 and text.find(b"\n", pos_labels) >= 0:
                t_dict = now
            if t_dict is not None and pos_prog < 0:
                pos_prog = text.find(b"Progress:", start)
            if pos_prog >= 0 and t_end is None and text.find(b"\n", max(start, pos_prog)) >= 0:
                t_end = now
    rc = p.wait()
    t_exit = time.monotonic()
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    s = text.decode("utf-8", "replace")
    wst = re.findall(r"words/sec/thread:\s*(\d+)", s)
    nwords = re.search(r"Number of words:\s*(\d+)", s)
    res = {"rc": rc, "wall_seconds": t_exit - t0, "peak_rss_mb": rss,
           "own_words_per_second_per_thread": float(wst[-1]) if wst else None,
           "vocabulary": int(nwords.group(1)) if nwords else None}
    if t_dict is not None and t_end is not None:
        res["prep_seconds"] = t_dict - t0
        res["train_seconds"] = t_end - t_dict
        res["after_seconds"] = t_exit - t_end
    jdump(res, out_json)
    return rc


def word2vec_run(out_json, log_path, vec_path, cmd):
    """Run the original word2vec (stdout line-buffered by stdbuf, stderr merged), noting
    when its vocabulary pass ends ("Words in train file", printed after the counts are
    sorted and pruned), when the first training progress line comes, and when training
    ends: word2vec prints nothing then (its progress lines end in \\r, with no newline
    after the last), but it opens the output file right after joining its threads, so the
    file's appearance, polled every few milliseconds, marks the end."""
    if os.path.exists(vec_path):
        os.remove(vec_path)
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    text = b""
    t_vocab = t_first = t_last = t_end = None
    fd = p.stdout.fileno()
    with open(log_path, "wb") as log:
        while True:
            ready = select.select([fd], [], [], 0.005)[0]
            now = time.monotonic()
            if t_end is None and os.path.exists(vec_path):
                t_end = now
            if not ready:
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            log.write(chunk)
            start = max(0, len(text) - 64)
            text += chunk
            if t_vocab is None and re.search(rb"Words in train file: \d+\n", text[start:]):
                t_vocab = now
            if b"Words/thread/sec" in text[start:]:
                if t_first is None:
                    t_first = now
                if t_end is None:
                    t_last = now
    rc = p.wait()
    t_exit = time.monotonic()
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    s = text.decode("utf-8", "replace")
    wst = re.findall(r"Words/thread/sec:\s*([\d.]+)k", s)
    prog = re.findall(r"Progress:\s*([\d.]+)%", s)
    vocab = re.search(r"Vocab size:\s*(\d+)", s)
    words = re.search(r"Words in train file:\s*(\d+)", s)
    if t_end is None:
        t_end = t_last
    res = {"rc": rc, "wall_seconds": t_exit - t0, "peak_rss_mb": rss,
           "own_words_per_second_per_thread": 1000.0 * float(wst[-1]) if wst else None,
           "last_progress_percent": float(prog[-1]) if prog else None,
           # word2vec's vocabulary always holds "</s>" (the token it reads for a newline).
           "vocabulary": int(vocab.group(1)) - 1 if vocab else None,
           "words_in_train_file": int(words.group(1)) if words else None}
    if t_vocab is not None and t_end is not None:
        res["prep_seconds"] = t_vocab - t0
        res["train_seconds"] = t_end - t_vocab
        res["after_seconds"] = t_exit - t_end
        if t_first is not None:
            res["init_seconds"] = t_first - t_vocab
    jdump(res, out_json)
    return rc


def gensim_train(out_json, corpus, vec, sg, alpha, dim, window, negative, sample, min_count,
                 epochs, threads, seed):
    import gensim
    from gensim.models import word2vec
    from gensim.models.word2vec import Word2Vec
    kw = dict(vector_size=dim, window=window, negative=negative, sample=sample,
              min_count=min_count, epochs=epochs, workers=threads, sg=sg, hs=0, seed=seed)
    if alpha:
        kw["alpha"] = alpha
    t0 = time.perf_counter()
    m = Word2Vec(**kw)
    m.build_vocab(corpus_file=corpus)
    t1 = time.perf_counter()
    effective, raw = m.train(corpus_file=corpus, total_examples=m.corpus_count,
                             total_words=m.corpus_total_words, epochs=m.epochs)
    t2 = time.perf_counter()
    m.wv.save_word2vec_format(vec)
    t3 = time.perf_counter()
    kept = int(sum(m.wv.get_vecattr(w, "count") for w in m.wv.index_to_key))
    msgs = [e.get("msg", "") for e in m.lifecycle_events if e.get("msg", "").startswith("training on")]
    own = re.search(r"([\d.]+) effective words/s", msgs[-1]) if msgs else None
    jdump({"gensim": gensim.__version__, "fast_version": word2vec.FAST_VERSION,
           "corpusfile_version": word2vec.CORPUSFILE_VERSION, "alpha": m.alpha,
           "prep_seconds": t1 - t0, "train_seconds": t2 - t1, "after_seconds": t3 - t2,
           "kept_tokens": kept, "raw_tokens": int(m.corpus_total_words),
           "effective_words": int(effective), "raw_words_trained": int(raw),
           "own_effective_words_per_second": float(own.group(1)) if own else None,
           "own_message": msgs[-1] if msgs else None, "vocabulary": len(m.wv)}, out_json)


def relate_train(out_json, train_stdout):
    """relate --json model train: progress lines (phase counting, encoding, training), then
    the model. The training phase's last elapsed_seconds is its training time."""
    last = {}
    final = None
    with open(train_stdout) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            o = json.loads(line)
            if "phase" in o:
                last[o["phase"]] = o
            elif "name" in o:
                final = o
    tr = last.get("training")
    res = {}
    if tr:
        res["train_seconds"] = tr["elapsed_seconds"]
        res["words_trained"] = tr["words_done"]
        if tr.get("epochs"):
            res["tool_tokens_per_epoch"] = tr["words_total"] / tr["epochs"]
    res["prep_seconds"] = sum(last[p]["elapsed_seconds"] for p in ("counting", "encoding") if p in last)
    if final:
        res["own_words_per_second_per_thread"] = final.get("words_per_second_per_thread")
        res["vocabulary"] = final.get("words")
        res["command_seconds"] = final.get("seconds")
    jdump(res, out_json)


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def record(records, run, tool, variant, status, d):
    """Merge a run's JSON files (key=path) into one record line."""
    rec = {"run": run, "tool": tool, "variant": variant, "status": status}
    for key, path in d.items():
        rec[key] = load(path)
    with open(records, "a") as f:
        f.write(json.dumps(rec) + "\n")


def fmt(x, spec):
    return "" if x is None else format(x, spec)


TSV_COLUMNS = [
    "run", "tool", "variant", "status", "epochs", "threads", "corpus_tokens_per_epoch",
    "tool_tokens_per_epoch", "words_trained", "trained_share", "vocabulary", "prep_seconds", "train_seconds", "after_seconds",
    "wall_seconds", "words_per_second_per_thread", "relate_over_this",
    "own_figure", "own_figure_meaning", "ws353_rho", "ws353_covered", "ws353_pairs",
    "simlex_rho", "simlex_covered", "simlex_pairs", "analogy_questions", "analogy_answered",
    "analogy_correct", "analogy_accuracy", "import_seconds", "peak_rss_mb", "load_avg_start"]


def rows_of(records, meta):
    kept = meta["corpus"]["kept_tokens"]
    epochs, threads = meta["epochs"], meta["threads"]
    rows = []
    for r in records:
        t = r.get("train", {})
        x = r.get("exec", {})
        row = {c: None for c in TSV_COLUMNS}
        row.update(run=r["run"], tool=r["tool"], variant=r["variant"], status=r["status"],
                   epochs=epochs, threads=threads, corpus_tokens_per_epoch=kept,
                   load_avg_start=r.get("meta", {}).get("load_avg"))
        row["wall_seconds"] = x.get("wall_seconds", t.get("wall_seconds"))
        row["peak_rss_mb"] = x.get("peak_rss_mb", t.get("peak_rss_mb"))
        for k in ("prep_seconds", "train_seconds", "after_seconds", "vocabulary"):
            row[k] = t.get(k)
        if r["tool"] == "relate":
            row["tool_tokens_per_epoch"] = t.get("tool_tokens_per_epoch")
            row["words_trained"] = t.get("words_trained")
            if row["words_trained"] is not None:
                row["trained_share"] = row["words_trained"] / float(kept * epochs)
            if row["wall_seconds"] is not None and t.get("train_seconds") is not None:
                row["after_seconds"] = row["wall_seconds"] - t["train_seconds"] - t.get("prep_seconds", 0)
            row["own_figure"] = t.get("own_words_per_second_per_thread")
            row["own_figure_meaning"] = "words/s/thread (relate --json)"
        elif r["tool"] == "gensim":
            row["tool_tokens_per_epoch"] = t.get("kept_tokens")
            # gensim counts the raw words (rare ones included) its workers went through.
            row["words_trained"] = t.get("raw_words_trained")
            if row["words_trained"] is not None:
                row["trained_share"] = row["words_trained"] / float(meta["corpus"]["raw_tokens"] * epochs)
            row["own_figure"] = t.get("own_effective_words_per_second")
            row["own_figure_meaning"] = "effective words/s, all workers (gensim log)"
        elif r["tool"] == "word2vec":
            # "Words in train file" counts the tokens kept after min-count plus one "</s>"
            # for every newline of the corpus.
            if t.get("words_in_train_file") is not None:
                row["tool_tokens_per_epoch"] = t["words_in_train_file"] - meta["corpus"]["lines"]
                # Its last "Progress:" is its words so far over epochs x "Words in train
                # file", printed up to 10,000 words a thread before the end.
                if t.get("last_progress_percent") is not None:
                    row["words_trained"] = round(t["last_progress_percent"] / 100.0 * epochs
                                                 * t["words_in_train_file"])
                    row["trained_share"] = row["words_trained"] / float(kept * epochs)
            row["own_figure"] = t.get("own_words_per_second_per_thread")
            row["own_figure_meaning"] = "Words/thread/sec (word2vec progress, per CPU second)"
        else:
            row["own_figure"] = t.get("own_words_per_second_per_thread")
            row["own_figure_meaning"] = "words/sec/thread (fastText progress)"
        if t.get("train_seconds"):
            row["words_per_second_per_thread"] = kept * epochs / t["train_seconds"] / threads
        ws, sl, an = r.get("ws353", {}), r.get("simlex", {}), r.get("analogy", {})
        row.update(ws353_rho=ws.get("spearman"), ws353_covered=ws.get("covered"),
                   ws353_pairs=ws.get("pairs"), simlex_rho=sl.get("spearman"),
                   simlex_covered=sl.get("covered"), simlex_pairs=sl.get("pairs"),
                   analogy_questions=an.get("questions"), analogy_answered=an.get("answered"),
                   analogy_correct=an.get("correct"), analogy_accuracy=an.get("accuracy"),
                   import_seconds=r.get("import", {}).get("wall_seconds"))
        rows.append(row)
    relate = {row["variant"]: row["words_per_second_per_thread"] for row in rows
              if row["tool"] == "relate" and row["status"] == "ok"}
    for row in rows:
        mine, base = row["words_per_second_per_thread"], relate.get(row["variant"])
        if row["tool"] != "relate" and mine and base:
            row["relate_over_this"] = base / mine
    return rows


def tsv_cell(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else ("%.6f" % v).rstrip("0").rstrip(".")
    return str(v).replace("\t", " ")


def report(records_path, meta_path, tsv_path):
    meta = load(meta_path)
    records = []
    if os.path.exists(records_path):
        with open(records_path) as f:
            records = [json.loads(l) for l in f if l.strip()]
    rows = rows_of(records, meta)
    with open(tsv_path, "w") as f:
        f.write("\t".join(TSV_COLUMNS) + "\n")
        for row in rows:
            f.write("\t".join(tsv_cell(row[c]) for c in TSV_COLUMNS) + "\n")
    c = meta["corpus"]
    out = []
    p = out.append
    w2v_rows = [r for r in rows if r["tool"] == "word2vec"]
    if w2v_rows:
        p("# train_compare: word-vector training, relate next to gensim, fastText and the original word2vec")
    else:
        p("# train_compare: word-vector training, relate next to gensim and fastText")
    p("")
    p("date:        " + meta["date"])
    p("cpu:         " + meta["cpu"])
    p("load avg:    %s (at start), %s (at end)" % (meta["load_start"], meta["load_end"]))
    p("relate:      " + meta["relate"])
    if meta.get("gensim"):
        p("gensim:      " + meta["gensim"])
    if meta.get("fasttext"):
        p("fasttext:    " + meta["fasttext"])
    if meta.get("word2vec"):
        p("word2vec:    " + meta["word2vec"])
    p("corpus:      %s: %d bytes, %d tokens, %d after min-count %d (%.2f%% dropped), vocabulary %d"
      % (meta["corpus_path"], c["bytes"], c["raw_tokens"], c["kept_tokens"], meta["min_count"],
         100.0 * (c["raw_tokens"] - c["kept_tokens"]) / max(1, c["raw_tokens"]), c["vocabulary"]))
    p("settings:    " + meta["settings"])
    p("evaluation:  " + meta["evaluation"])
    p("")
    p("| run | words/s/thread | relate ÷ this | tool's own figure | WS-353 ρ (pairs) "
      "| SimLex-999 ρ (pairs) | analogy % (answered) | vocab s | train s | wall s |")
    p("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for r in rows:
        if r["status"] != "ok":
            p("| %s | FAILED (%s) | | | | | | | | |" % (r["run"], r["status"]))
            continue
        own = r["own_figure"]
        if own is None:
            owns = ""
        elif r["tool"] == "gensim":
            owns = "%.0f eff. w/s" % own
        else:
            owns = "%.0f w/s/t" % own
        ratio = "%.2f" % r["relate_over_this"] if r["relate_over_this"] else (
            "—" if r["tool"] == "relate" else "n/a")
        def rho(v, n, tot):
            return "" if v is None else "%.3f (%d/%d)" % (v, n, tot)
        acc = "" if r["analogy_accuracy"] is None else "%.2f (%d)" % (
            100 * r["analogy_accuracy"], r["analogy_answered"])
        p("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["run"], fmt(r["words_per_second_per_thread"], ".0f"), ratio, owns,
            rho(r["ws353_rho"], r["ws353_covered"] or 0, r["ws353_pairs"] or 0),
            rho(r["simlex_rho"], r["simlex_covered"] or 0, r["simlex_pairs"] or 0), acc,
            fmt(r["prep_seconds"], ".1f"), fmt(r["train_seconds"], ".1f"),
            fmt(r["wall_seconds"], ".1f")))
    p("")
    p("- words/s/thread: %d tokens an epoch after min-count (counted by this script, split on "
      "white space) x %d epochs / train s / %d threads, the same formula for every tool. "
      "relate ÷ this: relate's words/s/thread for the same variant (sg, cbow, sg-subword) over "
      "this row's; above 1 relate trains faster." % (c["kept_tokens"], meta["epochs"], meta["threads"]))
    p("- train s: relate, its training phase (elapsed_seconds of the last `training` progress "
      "line); gensim, the `Word2Vec.train(corpus_file=...)` call; fastText, from the end of "
      "its dictionary (\"Number of labels\" on stderr) to the newline after its last progress "
      "line, so it includes fastText's random initialisation of the input matrix.")
    p("- vocab s: relate's counting and encoding passes; gensim's `build_vocab` (scan, prune, "
      "weight initialisation); fastText's start until its dictionary is printed. gensim reads a copy "
      "of the corpus cut into lines of %d words, as its corpus_file mode trains only the "
      "first 10,000 words of each worker's share of a one-line file. wall s: the "
      "whole training command (start-up, vocabulary, training, and writing the vectors: relate "
      "into its database, gensim a .vec, fastText a .bin and a .vec)." % meta["gensim_line_words"])
    p("- tool's own figure: relate's words_per_second_per_thread; fastText's last "
      "words/sec/thread (in-vocabulary tokens; fastText trains until it has counted epochs x "
      "all tokens, the ones under min-count included, so it goes through about %.2f%% more "
      "words than the others); gensim's effective words/s over all workers (words left after "
      "min-count and sub-sampling), from its training log."
      % (100.0 * (c["raw_tokens"] - c["kept_tokens"]) / max(1, c["kept_tokens"])))
    p("- quality: relate's evaluator on every model in one database (relate's own models as "
      "trained; gensim's and fastText's .vec imported, fastText's subword run imported from "
      "its .bin so unseen words get vectors). ρ is Spearman's over the pairs whose words "
      "have vectors; analogy accuracy is over the answered questions (all four words among "
      "the %d most frequent) out of the file's questions." % meta["restrict"])
    if w2v_rows:
        inits = ", ".join("%s %.1f s" % (r["run"], r["train"]["init_seconds"]) for r in records
                          if r["tool"] == "word2vec" and r.get("train", {}).get("init_seconds") is not None)
        p("- word2vec (the original C tool from WORD2VEC, the user's own build, not part of "
          "relate): vocab s, its start until it prints \"Words in train file\" (vocabulary "
          "counted, sorted and pruned); train s, from there until it opens its output file "
          "right after joining its threads, so, like fastText's, it includes the network's "
          "initialisation and here also the 1e8-entry negative-sampling table%s. Its own figure "
          "is its last Words/thread/sec: in-vocabulary words (\"</s>\" included) before "
          "sub-sampling per CPU second of the process (clock()), printed up to 10,000 words a "
          "thread before the end. It reads the corpus file as it is (sentences of at most 1,000 "
          "words), learning rate 0.025 sg / 0.05 cbow (passed), and has no seed option: SEED "
          "does not apply, its threads seed by their number and its vectors start from a fixed "
          "seed. Its .vec (which lists \"</s>\") is imported like gensim's."
          % ((" (first progress line after: " + inits + ")") if inits else ""))
    checks = []
    for r in rows:
        tt = r["tool_tokens_per_epoch"]
        if tt and abs(tt - c["kept_tokens"]) > 0.001 * c["kept_tokens"]:
            checks.append("%s counts %d tokens an epoch, this script %d" % (r["run"], tt, c["kept_tokens"]))
    agree = [r["run"] for r in rows if r["tool_tokens_per_epoch"]]
    for r in rows:
        share = r["trained_share"]
        if share is not None and abs(share - 1) > 0.02:
            checks.append("%s went through %.1f%% of epochs x corpus words" % (r["run"], 100 * share))
    shares = ", ".join("%s %.1f%%" % (r["run"], 100 * r["trained_share"]) for r in rows
                       if r["trained_share"] is not None)
    if shares and w2v_rows:
        p("- words gone through, as a share of epochs x corpus words (relate counts words after "
          "min-count, gensim all words; fastText always reaches its 100%; word2vec, its last "
          "Progress figure): " + shares)
    elif shares:
        p("- words gone through, as a share of epochs x corpus words (relate counts words after "
          "min-count, gensim all words; fastText always reaches its 100%): " + shares)
    short = [r["run"] for r in w2v_rows if r["trained_share"] is not None and r["trained_share"] < 0.98]
    if short:
        p("- %s stopped short: word2vec.c's training threads do not reset their end-of-file flag "
          "between epochs, so a thread that reaches the end of the file (here the last of %d "
          "threads, whose share ends there) trains one epoch only and the others go on alone; "
          "its vectors had fewer updates than the others', and its words/s/thread, computed "
          "over all epochs x corpus words, stands for the speed of the threads that kept "
          "going, not for work done." % (", ".join(short), meta["threads"]))
    if checks:
        p("- WARNING: " + "; ".join(checks))
    elif agree:
        p("- tokens an epoch after min-count agree with this script's count for: " + ", ".join(agree))
    loads = ", ".join("%s %s" % (r["run"], r["load_avg_start"]) for r in rows if r["load_avg_start"])
    if loads:
        p("- load average (1 min) at the start of each run: " + loads)
    p("")
    p("raw numbers: " + tsv_path)
    print("\n".join(out))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "corpus-stats":
        corpus_stats(args[0], int(args[1]), args[2])
    elif cmd == "reflow":
        reflow(args[0], args[1], int(args[2]))
    elif cmd == "exec":
        sys.exit(exec_timed(args[0], args[1], args[2], args[3:]))
    elif cmd == "fasttext":
        sys.exit(fasttext_run(args[0], args[1], args[2:]))
    elif cmd == "word2vec":
        sys.exit(word2vec_run(args[0], args[1], args[2], args[3:]))
    elif cmd == "gensim":
        (out, corpus, vec, sg, alpha, dim, window, negative, sample, min_count, epochs,
         threads, seed) = args
        gensim_train(out, corpus, vec, int(sg), float(alpha), int(dim), int(window),
                     int(negative), float(sample), int(min_count), int(epochs), int(threads),
                     int(seed))
    elif cmd == "relate-train":
        relate_train(args[0], args[1])
    elif cmd == "record":
        run, tool, variant, status = args[1:5]
        record(args[0], run, tool, variant, status, dict(a.split("=", 1) for a in args[5:]))
    elif cmd == "report":
        report(args[0], args[1], args[2])
    else:
        sys.exit("unknown helper command " + cmd)
PY
py() { "$HELPER_PY" "$H" "$@"; }

say "counting the corpus's tokens ($CORPUS_FILE)"
py corpus-stats "$CORPUS_FILE" "$MIN_COUNT" "$SCRATCH/corpus.json"
GENSIM_CORPUS=$SCRATCH/corpus-lines.txt
if need_tool gensim; then
  say "copying the corpus in lines of $GENSIM_LINE_WORDS words for gensim's corpus_file mode"
  py reflow "$CORPUS_FILE" "$GENSIM_CORPUS" "$GENSIM_LINE_WORDS"
fi

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
LOAD_START=$(loadavg)
RECORDS=$SCRATCH/records.jsonl
: > "$RECORDS"

# ---- the runs ---------------------------------------------------------------------------
# Each run function trains, then leaves these JSON files in $LOGS: NAME.exec.json (wall,
# RSS), NAME.train.json (phases), NAME.import.json; eval_model writes the evaluations.

relate_cmd() { "$RELATE" --db "$DB" "$@"; }

eval_model() {  # name
  local n=$1
  relate_cmd --json eval wordsim "$n" "$WS353" > "$LOGS/$n.ws353.json" 2>> "$LOGS/$n.eval.err" &&
  relate_cmd --json eval wordsim "$n" "$SIMLEX" > "$LOGS/$n.simlex.json" 2>> "$LOGS/$n.eval.err" &&
  relate_cmd --json eval analogy "$n" "$ANALOGY" --restrict "$RESTRICT" > "$LOGS/$n.analogy.json" 2>> "$LOGS/$n.eval.err"
}

import_model() {  # name file
  py exec "$LOGS/$1.import.json" "$LOGS/$1.import.out" "$LOGS/$1.import.err" \
    "$RELATE" --db "$DB" --create --json model import --name "$1" "$2"
}

run_relate() {  # name variant
  local n=$1 arch=skipgram sub=()
  [[ $2 == cbow ]] && arch=cbow
  [[ $2 == sg-subword ]] && sub=(--minn "$MINN" --maxn "$MAXN" --buckets "$BUCKETS")
  py exec "$LOGS/$n.exec.json" "$LOGS/$n.train.out" "$LOGS/$n.train.err" \
    "$RELATE" --db "$DB" --create --json model train --name "$n" --corpus "$CORPUS_FILE" \
    --arch "$arch" --dim "$DIM" --window "$WINDOW" --negative "$NEGATIVE" --sample "$SAMPLE" \
    --min-count "$MIN_COUNT" --epochs "$EPOCHS" --threads "$THREADS" --seed "$SEED" \
    "${sub[@]}" || return 1
  py relate-train "$LOGS/$n.train.json" "$LOGS/$n.train.out"
}

run_gensim() {  # name variant
  local n=$1 sg=1 alpha=0
  [[ $2 == cbow ]] && { sg=0; alpha=0.05; }
  py exec "$LOGS/$n.exec.json" "$LOGS/$n.train.out" "$LOGS/$n.train.err" \
    "$GENSIM_PY" "$H" gensim "$LOGS/$n.train.json" "$GENSIM_CORPUS" "$VECS/$n.vec" "$sg" "$alpha" \
    "$DIM" "$WINDOW" "$NEGATIVE" "$SAMPLE" "$MIN_COUNT" "$EPOCHS" "$THREADS" "$SEED" || return 1
  import_model "$n" "$VECS/$n.vec" || return 1
  [[ ${KEEP:-0} == 1 ]] || rm -f "$VECS/$n.vec"
}

run_fasttext() {  # name variant
  local n=$1 mode=skipgram sub=(-minn 0 -maxn 0) file
  [[ $2 == cbow ]] && mode=cbow
  [[ $2 == sg-subword ]] && sub=(-minn "$MINN" -maxn "$MAXN" -bucket "$BUCKETS")
  py fasttext "$LOGS/$n.train.json" "$LOGS/$n.train.err" \
    "$FASTTEXT" "$mode" -input "$CORPUS_FILE" -output "$VECS/$n" -dim "$DIM" -ws "$WINDOW" \
    -loss ns -neg "$NEGATIVE" -t "$SAMPLE" -minCount "$MIN_COUNT" -epoch "$EPOCHS" \
    -thread "$THREADS" -seed "$SEED" "${sub[@]}" || return 1
  file=$VECS/$n.vec
  [[ $2 == sg-subword ]] && file=$VECS/$n.bin
  import_model "$n" "$file" || return 1
  [[ ${KEEP:-0} == 1 ]] || rm -f "$VECS/$n.vec" "$VECS/$n.bin"
}

run_word2vec() {  # name variant
  local n=$1 cbow=0 alpha=()
  [[ $2 == cbow ]] && { cbow=1; alpha=(-alpha 0.05); }
  # No -seed: word2vec has none (it seeds each thread by its number).
  py word2vec "$LOGS/$n.train.json" "$LOGS/$n.train.out" "$VECS/$n.vec" \
    stdbuf -oL "$WORD2VEC" -train "$CORPUS_FILE" -output "$VECS/$n.vec" -cbow "$cbow" \
    -size "$DIM" -window "$WINDOW" -negative "$NEGATIVE" -hs 0 -sample "$SAMPLE" \
    -threads "$THREADS" -iter "$EPOCHS" -min-count "$MIN_COUNT" -binary 0 "${alpha[@]}" || return 1
  import_model "$n" "$VECS/$n.vec" || return 1
  [[ ${KEEP:-0} == 1 ]] || rm -f "$VECS/$n.vec"
}

STARTED=1
for run in "${SELECTED[@]}"; do
  tool=${run%%-*}
  variant=${run#*-}
  echo "{\"load_avg\": \"$(cut -d' ' -f1 /proc/loadavg)\"}" > "$LOGS/$run.meta.json"
  say "$run: training (epochs $EPOCHS, threads $THREADS)"
  status=ok
  if ! "run_$tool" "$run" "$variant"; then
    status="training or import failed, see $LOGS/$run.*"
  elif ! eval_model "$run"; then
    status="evaluation failed, see $LOGS/$run.eval.err"
  fi
  if [[ $status != ok ]]; then
    FAILED=1
    say "$run: $status"
    tail -n 5 "$LOGS/$run".*err >&2 2>/dev/null || true
  fi
  py record "$RECORDS" "$run" "$tool" "$variant" "$status" \
    "meta=$LOGS/$run.meta.json" "exec=$LOGS/$run.exec.json" "train=$LOGS/$run.train.json" \
    "import=$LOGS/$run.import.json" "ws353=$LOGS/$run.ws353.json" \
    "simlex=$LOGS/$run.simlex.json" "analogy=$LOGS/$run.analogy.json"
  say "$run: done"
done

# ---- the report -------------------------------------------------------------------------
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -n $(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null) ]] && commit="$commit (tree has local changes)"
build_type=unknown
cache=$(dirname "$(dirname "$RELATE")")/CMakeCache.txt
[[ -f $cache ]] && build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$cache")
GENSIM_DESC=
if [[ -n $GENSIM_PY ]]; then
  GENSIM_DESC="$("$GENSIM_PY" -c 'import gensim; from gensim.models import word2vec as w; print("%s (FAST_VERSION %s, CORPUSFILE_VERSION %s)" % (gensim.__version__, w.FAST_VERSION, w.CORPUSFILE_VERSION))' 2>/dev/null), $GENSIM_PY; Word2Vec(corpus_file=...), build_vocab then train timed apart"
fi
FASTTEXT_DESC=
if [[ -n ${FASTTEXT:-} ]] && need_tool fasttext; then
  v=$(dpkg-query -W -f '${Version}' fasttext 2>/dev/null || true)
  FASTTEXT_DESC="$FASTTEXT${v:+ (Debian package $v)}"
fi
SETTINGS="dim $DIM, window $WINDOW, seed $SEED, negative $NEGATIVE, sample $SAMPLE, min-count $MIN_COUNT, epochs $EPOCHS, threads $THREADS; sub-words (the -subword runs) n-grams $MINN-$MAXN in $BUCKETS buckets; learning rate each tool's default (relate 0.025 sg / 0.05 cbow, gensim 0.025 sg / 0.05 cbow passed as alpha, fastText 0.05)"
need_tool word2vec && SETTINGS="$SETTINGS; word2vec: the same, but no seed (it has no seed option), learning rate 0.025 sg / 0.05 cbow (passed for cbow)"
EVALUATION="relate eval wordsim on $(basename "$WS353") and $(basename "$SIMLEX"), relate eval analogy on $(basename "$ANALOGY") --restrict $RESTRICT"
CPU="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(nproc) logical cores"

META=$SCRATCH/meta.json
M_DATE=$(date -u '+%Y-%m-%d %H:%M:%S UTC') M_CPU=$CPU M_LOAD_START=$LOAD_START M_LOAD_END=$(loadavg) \
M_RELATE="$RELATE (commit $commit, build type $build_type)" M_GENSIM=$GENSIM_DESC \
M_FASTTEXT=$FASTTEXT_DESC M_WORD2VEC=$WORD2VEC_DESC M_CORPUS=$CORPUS_FILE M_SETTINGS=$SETTINGS M_EVALUATION=$EVALUATION \
M_EPOCHS=$EPOCHS M_THREADS=$THREADS M_LINE_WORDS=$GENSIM_LINE_WORDS M_MIN_COUNT=$MIN_COUNT M_RESTRICT=$RESTRICT \
  "$HELPER_PY" - "$META" "$SCRATCH/corpus.json" <<'PY'
import json, os, sys
e = os.environ
meta = {"date": e["M_DATE"], "cpu": e["M_CPU"], "load_start": e["M_LOAD_START"],
        "load_end": e["M_LOAD_END"], "relate": e["M_RELATE"], "gensim": e["M_GENSIM"],
        "fasttext": e["M_FASTTEXT"], "word2vec": e["M_WORD2VEC"], "corpus_path": e["M_CORPUS"],
        "settings": e["M_SETTINGS"], "evaluation": e["M_EVALUATION"],
        "epochs": int(e["M_EPOCHS"]), "threads": int(e["M_THREADS"]),
        "min_count": int(e["M_MIN_COUNT"]), "restrict": int(e["M_RESTRICT"]),
        "gensim_line_words": int(e["M_LINE_WORDS"])}
with open(sys.argv[2]) as f:
    meta["corpus"] = json.load(f)
with open(sys.argv[1], "w") as f:
    json.dump(meta, f)
PY

py report "$RECORDS" "$META" "$OUT"
((FAILED == 0)) || exit 1

#!/usr/bin/env bash
# Writes small seed inputs for every fuzz target into DIR/<target>/ (default
# ./seeds): well-formed files and values of each format, so the fuzzer starts from
# inputs that get past the first checks. Needs only bash and printf.
set -euo pipefail
dir=${1:-seeds}

# put TARGET NAME BYTES...: writes the printf-format BYTES to DIR/TARGET/NAME.
put() {
  local target=$1 name=$2
  shift 2
  mkdir -p "$dir/$target"
  printf "$@" >"$dir/$target/$name"
}
# Little-endian int32 / int64 as printf escapes.
i32() { local v=$(($1 & 0xffffffff)); printf '\\x%02x\\x%02x\\x%02x\\x%02x' $((v & 255)) $((v >> 8 & 255)) $((v >> 16 & 255)) $((v >> 24 & 255)); }
i64() { printf '%s%s' "$(i32 $(($1 & 0xffffffff)))" "$(i32 $(($1 >> 32)))"; }

# float32 1.0, 0.5, -2.0, 0.25 as little-endian bytes.
f1='\x00\x00\x80\x3f' fh='\x00\x00\x00\x3f' fm2='\x00\x00\x00\xc0' fq='\x00\x00\x80\x3e'

# word2vec text and fastText .vec.
put word2vec_text basic '2 3\nthe 0.1 -0.2 3e-1\ncat 1 2 3\n'
put word2vec_text crlf_bom '\xef\xbb\xbf1 2\r\nna\xc3\xafve 0.5 -0.5\r\n'
put word2vec_text float64 '1 2\nx 0.12345678901234567 1e-40\n'
# word2vec binary: "N D\n" then "token " + D float32 (+ '\n').
put word2vec_binary basic "2 2\nthe $f1$fh\ncat $fm2$fq\n"
put word2vec_binary no_newlines "2 1\na ${f1}b $fh"
# GloVe: no header.
put glove basic 'the 0.1 0.2 0.3\ncat -1 2.5 +3\n'
put glove tabs 'a\t1\t2\nb\t3\t4'
# Detection sees all of the above.
for t in word2vec_text word2vec_binary glove; do
  mkdir -p "$dir/vectors_auto"
  for f in "$dir/$t"/*; do cp "$f" "$dir/vectors_auto/$t-$(basename "$f")"; done
done

# fastText .bin (format version 12): args, a dictionary of "</s>", "cat" and a label,
# the input matrix (2 words + 4 buckets, dim 2), the output matrix (2 x 2).
ft_args() {  # dim ws epoch minCount neg wordNgrams loss model bucket minn maxn lrUpdateRate, t
  printf '%s' "$(i32 2)$(i32 5)$(i32 1)$(i32 1)$(i32 5)$(i32 1)$(i32 2)$(i32 2)$(i32 4)$(i32 3)$(i32 4)$(i32 100)"
  printf '%s' '\x2d\x43\x1c\xeb\xe2\x36\x1a\x3f'  # double 1e-4
}
ft_dict() {  # $1: with pruneidx_size
  printf '%s' "$(i32 3)$(i32 2)$(i32 1)$(i64 10)"
  [[ $1 == 1 ]] && printf '%s' "$(i64 -1)"
  printf '%s' "</s>\\x00$(i64 5)\\x00cat\\x00$(i64 3)\\x00__label__x\\x00$(i64 1)\\x01"
}
matrix_in="$(i64 6)$(i64 2)$f1$fh$fm2$fq$f1$f1$fh$fh$fq$fq$fm2$f1"
matrix_out="$(i64 2)$(i64 2)$f1$fh$fm2$fq"
put fasttext_bin v12 "$(i32 793712314)$(i32 12)$(ft_args)$(ft_dict 1)\\x00$matrix_in\\x00$matrix_out"
# A 2016 file: no magic, version, pruneidx_size or quantization flags.
put fasttext_bin legacy "$(ft_args)$(ft_dict 0)$matrix_in$matrix_out"

# JSON Lines records.
put jsonl full '{"key": "a", "text": "some text", "metadata": {"year": 2021, "tags": ["x", "y"], "score": 0.5, "draft": true}, "vector": [0.1, -2, 3e5]}'
put jsonl minimal '{"key":"k","vector":[1]}'
put jsonl unicode '{"key": "\\u00e9t\\u00e9", "text": "caf\xc3\xa9 \\ud83d\\ude00", "metadata": {"n": -9223372036854775808}}'
put jsonl unknown_field '{"key": "a", "vectr": [1]}'

# --vector arguments.
put query basic '[0.1, -0.2, 3e-1]'
put query ints '[1,2,3,4,5,6,7,8]'
put query big '[1e38, -3.4e38, 1e-45, 0]'

# --where filters (printf formats: \\ is one backslash, \x27 a single quote).
put where basic 'year >= 2000 and genre in ["jazz", "blues"] and not exists(draft)'
put where precedence '(price < 9.5 or on_sale == true) and tags == "new"'
put where symbols 'a == 1 && !(b != 2.5e-3 || c = \x27x\x27) && e not in []'
put where escapes 'c == "\\u00e9\\ud83d\\ude00\\n\\t\\\\\\"\\x41" and `release year` > -12'
put where keywords 'A == TRUE AND b NOT IN [1, -0.0, 1E3, false] OR Exists(`and`) or x <= 9223372036854775807'
put where bad 'year => 2000 and (x in [1, 2'

# Stored values: first byte 0 record, 1 collection, 2 model, 3 vector, then the
# protobuf bytes (records.proto).
# Record: key "a" (1), id 7 (2), text "t" (3), metadata {"y": int 5} (4), version 1 (6).
put record record '\x00\x0a\x01a\x10\x07\x1a\x01t\x22\x07\x0a\x01y\x12\x02\x10\x05\x30\x01'
# Record with a list value {"tags": ["x"]} and a double {"s": 0.5}.
put record record_list '\x00\x0a\x01b\x22\x0d\x0a\x04tags\x12\x05\x2a\x03\x0a\x01x\x22\x0e\x0a\x01s\x12\x09\x19\x00\x00\x00\x00\x00\x00\xe0\x3f'
# Collection: id 1, name "c", dimension 3, metric "cosine", index "Flat", sif [1.0].
put record collection '\x01\x08\x01\x12\x01c\x18\x03\x22\x06cosine\x2a\x04Flat\x62\x04\x00\x00\x80\x3f'
# Model: id 1, name "m", version 1, dimension 2, words 10, format "word2vec text".
put record model '\x02\x08\x01\x12\x01m\x18\x01\x20\x02\x28\x0a\x32\x0dword2vec text'
put record vector "\\x03$f1$fh$fm2"

#!/usr/bin/env bash
# The layer rule of docs/layout.md, checked on every header under include/secformer/ (CTest
# headers.layers): a header's #include "..." (and #include <secformer/...>) may name only the
# layers its own layer may include; io/ and text/ include no library beyond the standard one (no
# <.../...> or <....h>; text/ may use utf8proc), Boost.Hana appears only in nn/, Asio only in channel/. A header's layer is
# its folder (core/, channel/, ...) or, at the top, its file (config.hpp, context.hpp,
# run.hpp, net.hpp, secformer.hpp = umbrella); a header in no known layer fails too, so a new layer
# is added here and in docs/layout.md together. Prints file:line: reason per violation, exits 1.
# Usage: bash cmake/check_layers.sh [include/secformer]
#        bash cmake/check_layers.sh --self-test   (the check fails on planted violations; CTest
#                                                  headers.layers_selftest)
set -euo pipefail

# Which layers each layer may include (itself included where listed). Keep equal to docs/layout.md.
declare -A may=(
  [config]=""
  [core]="config core"
  [channel]="config core channel"
  [dealer]="config core channel dealer"
  [context]="config core channel dealer"
  [protocols]="config core channel dealer context protocols"
  [io]="config io"
  [text]="config io text"
  [nn]="config core channel dealer context protocols io text nn"
  [run]="config core channel dealer context protocols io text nn"
  [net]="config core channel dealer context protocols io text nn run"
  [umbrella]="config core channel dealer context protocols io text nn run"
)

layer_of() {  # a path relative to include/secformer
  case "$1" in
    */*) echo "${1%%/*}" ;;
    config.hpp) echo config ;;
    context.hpp) echo context ;;
    run.hpp) echo run ;;
    net.hpp) echo net ;;
    secformer.hpp) echo umbrella ;;
    *) echo "" ;;
  esac
}

check() {
  local root="$1" bad=0 n=0 f rel layer num line inc target tl kind
  root="$(cd "$root" && pwd -P)"
  local shown="${root%/include/secformer}"
  while IFS= read -r f; do
    rel="${f#"$root"/}"
    n=$((n + 1))
    layer="$(layer_of "$rel")"
    if [ -z "$layer" ] || [ -z "${may[$layer]+x}" ]; then
      echo "${f#"$shown"/}:1: in no known layer (add the layer to cmake/check_layers.sh and docs/layout.md)"
      bad=$((bad + 1))
      continue
    fi
    while IFS= read -r line; do
      num="${line%%:*}"
      line="${line#*:}"
      if [[ "$line" =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*\"([^\"]+)\" ]]; then
        inc="${BASH_REMATCH[1]}"
        target="$(realpath -m --relative-to="$root" "$(dirname "$f")/$inc")"
      elif [[ "$line" =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*\<secformer/([^\>]+)\> ]]; then
        inc="<secformer/${BASH_REMATCH[1]}>"
        target="$(realpath -m --relative-to="$root" "$root/${BASH_REMATCH[1]}")"
      elif [[ "$line" =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*\<([^\>]+)\> ]]; then
        inc="${BASH_REMATCH[1]}"
        kind=""
        case "$layer:$inc" in
          text:utf8proc.h) ;;  # text/: Unicode data from utf8proc (target secformer::text)
          io:*/* | io:*.* | text:*/* | text:*.*) kind="$layer may include only the standard library" ;;
        esac
        case "$inc" in
          boost/hana*) [ "$layer" = nn ] || kind="Boost.Hana only in nn/" ;;
          asio | asio.hpp | asio/*) [ "$layer" = channel ] || kind="Asio only in channel/" ;;
        esac
        if [ -n "$kind" ]; then
          echo "${f#"$shown"/}:$num: <$inc>: $kind"
          bad=$((bad + 1))
        fi
        continue
      else
        continue
      fi
      if [[ "$target" == ../* ]]; then
        echo "${f#"$shown"/}:$num: $inc is outside include/secformer"
        bad=$((bad + 1))
        continue
      fi
      if [ ! -f "$root/$target" ]; then
        echo "${f#"$shown"/}:$num: $inc: no such header"
        bad=$((bad + 1))
        continue
      fi
      tl="$(layer_of "$target")"
      if [[ " ${may[$layer]} " != *" $tl "* ]]; then
        echo "${f#"$shown"/}:$num: $layer may not include $tl ($target); $layer may include: ${may[$layer]:-nothing}"
        bad=$((bad + 1))
      fi
    done < <(grep -n '^[[:space:]]*#[[:space:]]*include' "$f" || true)
  done < <(find "$root" -name '*.hpp' | LC_ALL=C sort)
  if [ "$n" -eq 0 ]; then
    echo "check_layers: no headers under $root"
    return 1
  fi
  if [ "$bad" -ne 0 ]; then
    echo "check_layers: $bad violation(s) in $n headers (the rule: docs/layout.md)"
    return 1
  fi
  echo "check_layers: $n headers, every include within its layer's rule"
}

self_test() {
  local src tmp out status=0
  src="$(cd "$(dirname "$0")/../include/secformer" && pwd -P)"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' RETURN
  mkdir -p "$tmp/include"
  cp -R "$src" "$tmp/include/secformer"
  local t="$tmp/include/secformer"
  check "$t" > /dev/null || { echo "self-test: the unmodified tree fails"; return 1; }
  # Planted: io/ including nn/, protocols/ including nn/ by <secformer/...>, a header in a new
  # folder, a missing header, text/ including a third-party library, Hana outside nn/.
  printf '#include "../nn/layers.hpp"\n' >> "$t/io/json.hpp"
  local io_line; io_line="$(wc -l < "$t/io/json.hpp")"
  printf '#include <secformer/nn/bert.hpp>\n' >> "$t/protocols/mul.hpp"
  mkdir -p "$t/extra" && printf '#pragma once\n' > "$t/extra/x.hpp"
  printf '#include "nope.hpp"\n' >> "$t/core/ring.hpp"
  printf '#include <xtensor/xarray.hpp>\n' >> "$t/text/sentencepiece.hpp"
  printf '#include <boost/hana/tuple.hpp>\n' >> "$t/core/share.hpp"
  if out="$(check "$t")"; then
    echo "self-test: the planted violations passed"
    return 1
  fi
  local want
  for want in "include/secformer/io/json.hpp:$io_line: io may not include nn (nn/layers.hpp)" \
              "include/secformer/protocols/mul.hpp:" "protocols may not include nn (nn/bert.hpp)" \
              "include/secformer/extra/x.hpp:1: in no known layer" \
              "include/secformer/core/ring.hpp:" "nope.hpp: no such header" \
              "<xtensor/xarray.hpp>: text may include only the standard library" \
              "<boost/hana/tuple.hpp>: Boost.Hana only in nn/" \
              "check_layers: 6 violation(s)"; do
    if [[ "$out" != *"$want"* ]]; then
      echo "self-test: the report lacks '$want'; it was:"
      echo "$out"
      status=1
    fi
  done
  [ "$status" -eq 0 ] && echo "check_layers self-test: 6 planted violations reported, by file and line"
  return "$status"
}

if [ "${1:-}" = "--self-test" ]; then
  self_test
else
  check "${1:-$(dirname "$0")/../include/secformer}"
fi

#!/usr/bin/env python3
"""ctest driver for examples/bert_classify (tests/CMakeLists.txt, bert_classify.*).

  check_bert_classify.py hf BIN MODEL TOL CASES_JSON [--max-length N]
      --mode exact against Hugging Face transformers (hf_reference.py, float64): the cases run as one
      batch padded to the longest (HF attention_mask), bert_classify gets --pad-to that length, so
      every shorter case is a padded sequence. Compares ids, token types, the final hidden states
      (all positions) and the logits (classifiers): max abs difference <= TOL.
  check_bert_classify.py approx BIN MODEL MEAN_TOL MAX_TOL CASES_JSON MODE SUITE
      --mode MODE (solo or secure, --seed fixed) against --mode approx of the same suite: mean and
      max abs difference of the logits and hidden states within the bounds.
Prints the measured differences; exits 1 when a bound is broken.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def run_cli(binary, model, case, extra):
    cmd = [binary, "--model", model, "--json", "--hidden"] + extra + list(case)
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("bert_classify failed (%d): %s\n%s" % (p.returncode, " ".join(cmd), p.stderr))
    sys.stderr.write(p.stderr)
    return json.loads(p.stdout)


def flat(x):
    if isinstance(x, list):
        for v in x:
            yield from flat(v)
    else:
        yield x


def diffs(a, b, what):
    fa, fb = list(flat(a)), list(flat(b))
    if len(fa) != len(fb):
        sys.exit("%s: %d values vs %d" % (what, len(fa), len(fb)))
    return [abs(x - y) for x, y in zip(fa, fb)]


def check_hf(binary, model, tol, cases, rest):
    from hf_reference import reference
    max_length = int(rest[rest.index("--max-length") + 1]) if "--max-length" in rest else None
    ref = reference(model, cases, max_length)
    worst = 0.0
    ok = True
    for case, r in zip(cases, ref):
        extra = ["--pad-to", str(len(r["ids"]))] + (["--max-length", str(max_length)] if max_length else [])
        out = run_cli(binary, model, case, extra)
        if out["ids"] != r["ids"] or out["token_types"] != r["token_types"]:
            print("ids differ for %r:\n  ours %s %s\n  hf   %s %s" % (case, out["ids"], out["token_types"], r["ids"], r["token_types"]))
            ok = False
            continue
        dh = max(diffs(out["hidden"], r["hidden"], "hidden"))
        line = "case %r (%d tokens, %d padding): hidden max abs diff %.3g" % (case[0][:30], len(r["ids"]), r["attention_mask"].count(0), dh)
        worst = max(worst, dh)
        if "logits" in r:
            dl = max(diffs(out["logits"], r["logits"], "logits"))
            worst = max(worst, dl)
            line += ", logits %.3g" % dl
            if "label" not in out:
                print("no label in the output")
                ok = False
        print(line)
    print("exact vs transformers: max abs difference %.3g (bound %g)" % (worst, tol))
    return ok and worst <= tol


def check_approx(binary, model, mean_tol, max_tol, cases, mode, suite):
    all_d = []
    for i, case in enumerate(cases):
        ref = run_cli(binary, model, case, ["--mode", "approx", "--suite", suite, "--pad-to", "12"])
        out = run_cli(binary, model, case, ["--mode", mode, "--suite", suite, "--seed", str(17 + i), "--pad-to", "12"])
        d = diffs(out["hidden"], ref["hidden"], "hidden") + diffs(out.get("logits", []), ref.get("logits", []), "logits")
        print("case %r: %s vs approx: mean %.3g, max %.3g; logits %s vs %s" % (case[0][:30], mode, sum(d) / len(d), max(d),
                                                                               out.get("logits"), ref.get("logits")))
        all_d += d
    mean, mx = sum(all_d) / len(all_d), max(all_d)
    print("%s vs approx (%s): mean abs difference %.3g (bound %g), max %.3g (bound %g)" % (mode, suite, mean, mean_tol, mx, max_tol))
    return mean <= mean_tol and mx <= max_tol


def main():
    kind = sys.argv[1]
    if kind == "hf":
        ok = check_hf(sys.argv[2], sys.argv[3], float(sys.argv[4]), json.loads(sys.argv[5]), sys.argv[6:])
    elif kind == "approx":
        ok = check_approx(sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5]), json.loads(sys.argv[6]), sys.argv[7], sys.argv[8])
    else:
        sys.exit("usage: see the docstring")
    print("OK" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

# Two entry points a new user needs: `make demo` and `make test`.
# Everything else (a venv, the package, graphviz) is installed on demand.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
NNDSL  := $(VENV)/bin/nndsl
SPEC   ?= specs/mlp_digits.nn
OUT    ?= runs/demo

WHEEL_VENV := build/wheel-venv

.PHONY: demo test accept bench install clean wheel-test grammar fuzz mutate

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	  || { echo "nndsl needs Python 3.11 or newer: make PYTHON=python3.11 ..."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,export]'
	@command -v dot >/dev/null 2>&1 || { echo "installing graphviz (dot)"; \
	  (apt-get update -qq && apt-get install -y -qq graphviz >/dev/null) \
	  || echo "warning: could not install graphviz; 'nndsl render -o x.dot' still works"; }
	touch $@

install: $(VENV)/.installed

demo: install
	$(NNDSL) check $(SPEC)
	$(NNDSL) summary $(SPEC) --batch 64
	@mkdir -p $(OUT)
	$(NNDSL) render $(SPEC) -o $(OUT)/network.png || $(NNDSL) render $(SPEC) -o $(OUT)/network.dot
	$(NNDSL) train $(SPEC) --out $(OUT)
	@picture=$$(ls $(OUT)/network.png $(OUT)/network.dot 2>/dev/null | head -1); \
	  echo "demo: picture $$picture; results, checkpoints and curves (curves.png) in $(OUT)/"

test: install wheel-test
	$(VENV)/bin/ruff check nndsl tests bench docs/make_gallery.py
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest -q

# The package as a user gets it: a wheel, installed into a fresh venv, run from outside the tree.
wheel-test: install
	rm -rf dist $(WHEEL_VENV) build/lib build/bdist.*  # a stale build/lib would leak old modules
	$(PY) -m build --wheel --outdir dist . >/dev/null
	$(VENV)/bin/check-wheel-contents dist/*.whl
	$(PY) -c 'import sys, zipfile; names = set(zipfile.ZipFile(sys.argv[1]).namelist()); \
	  sys.exit(sorted({"nndsl/grammars/nn.lark", "nndsl/grammars/nn.tables.json"} - names) or None)' dist/*.whl
	$(PYTHON) -m venv $(WHEEL_VENV)
	$(WHEEL_VENV)/bin/python -m pip install --quiet dist/*.whl
	cd $(WHEEL_VENV) && bin/nndsl check $(CURDIR)/specs/mlp_digits.nn
	cd $(WHEEL_VENV) && bin/python -m nndsl train $(CURDIR)/specs/perceptron_xor.nn \
	  --epochs 1 --out $(CURDIR)/$(WHEEL_VENV)/run --quiet

# The long fuzz run (docs/benchmarks.md records its last result): 50,000 generated programs.
FUZZ_EXAMPLES ?= 50000
fuzz: install
	NNDSL_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -q tests/test_fuzz.py

# Regenerate the parser tables after editing grammars/nn.lark (a test says when they are stale).
grammar: install
	PYTHONHASHSEED=0 $(PY) -c 'from nndsl.grammar import main; main()'

accept: install
	$(PY) -m pytest -q -m slow

# Mutation testing of nndsl/ops/ and nndsl/lower.py ([tool.mutmut] in pyproject.toml); not part
# of `make test`. A full run is ~3800 mutants, hours on two cores, so by default only the fixed
# sample in MUTANT_SAMPLE runs (mutant names or fnmatch patterns, see docs/mutation.md);
# `make mutate MUTANT_SAMPLE=` runs everything. Results accumulate in mutants/ (delete it after
# changing the code under test); the score and the surviving mutants go to build/mutation.txt.
MUTANT_SAMPLE ?= docs/mutation_sample.txt
MUTATE_JOBS   ?= 2
MUTANTS       := $(if $(MUTANT_SAMPLE),$(shell sed -e 's/#.*//' -e '/^!/d' $(MUTANT_SAMPLE)))

mutate: install
	start=$$(date +%s); \
	nice -n 19 $(VENV)/bin/mutmut run --max-children $(MUTATE_JOBS) $(foreach m,$(MUTANTS),'$(m)'); \
	$(PY) bench/mutation_report.py --sample '$(MUTANT_SAMPLE)' --seconds $$(($$(date +%s) - start))

clean:
	rm -rf $(VENV) runs build dist mutants *.egg-info

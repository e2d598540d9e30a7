# The course's commands. `make lab` sets up and opens the course (the
# student edition, in student/); `make test` runs every test. Both create the
# virtual environment first if it is missing or older than pyproject.toml /
# constraints.txt: with uv when it is there (installed first, pinned, when it
# is not), else pip (COURSE_INSTALLER=pip forces pip); same constraints, same result.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Notebooks run two at a time (each pinned to one thread by course_lib.tools.nbtools).
WORKERS ?= 2

# strict nbval over the notebooks; numbers are compared within each cell's tolerance (conftest.py)
NBVAL  := --nbval --nbval-current-env --nbval-sanitize-with tests/sanitize.cfg --nbval-cell-timeout 300
# GPU validation (make test-gpu): the interpreter that has the CUDA build of torch, and a folder of wheels
GPU_PYTHON ?= python3
GPU_DEVICE ?= cuda
WHEELS     ?= wheels

# JupyterLab with the course's own settings (jupyter-config/: no news popup; bigger fonts when presenting).
# JupyterLab refuses to run as root; in a container say so with ALLOW_ROOT=1.
IS_ROOT    := $(shell [ "$$(id -u)" = 0 ] && echo 1)
ROOT_FLAG   = $(if $(IS_ROOT),$(if $(filter 1,$(ALLOW_ROOT)),--allow-root,$(error JupyterLab does not run as root \
	by default. In a container, run `make $@ ALLOW_ROOT=1`; on your own machine, run make as your own user)))
LAB         = $(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --LabApp.news_url= $(ROOT_FLAG)
CONFIG     := $(CURDIR)/jupyter-config

.PHONY: setup lab lab-instructor present student slides test test-oldcpu test-threads test-seeds test-gpu wheels lint notebooks tolerances clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) course_lib/tools/setup_env.py --venv $(VENV)
	touch $(STAMP)

setup: $(STAMP)  ## create .venv and install the course (pinned versions)

lab: student  ## STUDENTS: open your own copy of the course (student/, no solutions, untracked by git)
	JUPYTER_CONFIG_PATH=$(CONFIG) $(LAB) --ServerApp.root_dir=student 00_start_here.ipynb

lab-instructor: $(STAMP)  ## INSTRUCTORS: open the full edition (notebooks/, with solutions; edits change the course)
	JUPYTER_CONFIG_PATH=$(CONFIG) $(LAB) --ServerApp.root_dir=. notebooks/00_start_here.ipynb

present: $(STAMP)  ## present live: full edition, text 22 px / code 20 px, shipped training results
	mkdir -p build/present-settings && cp -rn $(CONFIG)/present/user-settings/. build/present-settings/
	COURSE_SHIPPED=1 JUPYTER_CONFIG_PATH=$(CONFIG)/present:$(CONFIG) JUPYTERLAB_SETTINGS_DIR=$(CURDIR)/build/present-settings \
		$(LAB) --ServerApp.root_dir=. notebooks/01_perceptron.ipynb

student: $(STAMP)  ## write the student edition to student/ (missing or untouched files only: your work is kept)
	$(BIN)/python -m course_lib.tools.nbtools student --out student

slides: $(STAMP)  ## static reveal.js slides: build/slides/ (solutions marked), build/slides-student/ (hidden)
	$(BIN)/python -m course_lib.tools.nbtools slides --out build/slides
	$(BIN)/python -m course_lib.tools.nbtools slides --edition student --out build/slides-student

lint: $(STAMP)
	$(BIN)/ruff check course_lib tests notebooks conftest.py

test: lint  ## lint, unit tests, strict nbval over every notebook, then the notebooks again as "another CPU"
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadfile $(NBVAL)
	$(MAKE) --no-print-directory test-oldcpu

test-oldcpu: $(STAMP)  ## the notebooks with every numeric library held to an x86-64-v2 CPU (no AVX)
	COURSE_NUMERICS=oldcpu $(BIN)/python -m pytest -n $(WORKERS) --dist loadfile $(NBVAL) notebooks

test-threads: $(STAMP)  ## the notebooks with two threads each instead of one
	COURSE_NUMERICS=threads2 $(BIN)/python -m pytest $(NBVAL) notebooks

wheels:  ## download every dependency but torch as wheels into $(WHEELS)/ for an offline GPU machine (GPU_PYVER=3.12)
	grep -v '^torch==' constraints.txt > $(WHEELS).txt
	$(PYTHON) -m pip download --quiet --no-deps --only-binary=:all: --dest $(WHEELS) \
		$(if $(GPU_PYVER),--python-version $(GPU_PYVER) --platform manylinux_2_28_x86_64 \
		--platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64) -r $(WHEELS).txt
	rm $(WHEELS).txt

test-gpu:  ## every notebook on the GPU (COURSE_DEVICE=$(GPU_DEVICE)): torch as installed, the rest from $(WHEELS)/, offline
	PYTHONPATH=. COURSE_DEVICE=$(GPU_DEVICE) $(GPU_PYTHON) -c "import torch; from course_lib.device import get_device; \
		print('test-gpu: torch', torch.__version__, 'on', get_device())"
	rm -rf build/gpu-site
	$(GPU_PYTHON) -m pip install --quiet --no-index --no-deps --no-compile --target build/gpu-site $(WHEELS)/*.whl
	PYTHONPATH=$(CURDIR)/build/gpu-site:$(CURDIR) COURSE_DEVICE=$(GPU_DEVICE) \
		$(GPU_PYTHON) -m pytest $(NBVAL) notebooks tests/test_device.py

SEEDS ?= 1,2,3
test-seeds: $(STAMP)  ## every chapter again with other base seeds (COURSE_SEED=$(SEEDS)): its asserts must hold
	$(BIN)/python -m course_lib.tools.nbtools seeds --seeds $(SEEDS)

tolerances: $(STAMP)  ## how every chapter's outputs are compared, and every declared tolerance
	$(BIN)/python -m course_lib.tools.nbtools tolerances

notebooks: $(STAMP)  ## re-execute every notebook, save its outputs and record data/shipped/ (the saving run)
	$(BIN)/python -m course_lib.tools.nbtools execute

clean:
	rm -rf $(VENV) build/gpu-site .pytest_cache .ruff_cache

# The course's commands. `make lab` sets up and opens the course;
# `make test` runs every test. Both create the virtual environment first if
# it is missing or older than pyproject.toml / constraints.txt.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Notebooks run two at a time (each pinned to one thread by course_lib.nbtools).
WORKERS ?= 2

.PHONY: setup lab present student slides test lint notebooks clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --constraint constraints.txt --editable ".[dev]"
	touch $(STAMP)

setup: $(STAMP)  ## create .venv and install the course (pinned versions)

lab: $(STAMP)  ## open the course in JupyterLab, on this machine only
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.root_dir=. notebooks/01_perceptron.ipynb

present: $(STAMP)  ## JupyterLab for presenting live: long training cells load their shipped results
	COURSE_SHIPPED=1 $(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.root_dir=. notebooks/01_perceptron.ipynb

student: $(STAMP)  ## write the student edition to student/ (solutions replaced, outputs cleared)
	$(BIN)/python -m course_lib.nbtools student --out student

slides: $(STAMP)  ## export every chapter as reveal.js slides to build/slides/
	$(BIN)/python -m course_lib.nbtools slides --out build/slides

lint: $(STAMP)
	$(BIN)/ruff check course_lib tests notebooks conftest.py

test: lint  ## lint, unit tests, and strict nbval over every notebook
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadfile \
		--nbval --nbval-current-env --nbval-sanitize-with tests/sanitize.cfg --nbval-cell-timeout 300

notebooks: $(STAMP)  ## re-execute every notebook, save its outputs and record data/shipped/ (the saving run)
	$(BIN)/python -m course_lib.nbtools execute

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

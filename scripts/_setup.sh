# Sourced by scripts/demo and scripts/test: a virtual environment in .venv with torch 2.13.0 (CPU) installed FIRST,
# then the project, so no install can pull a CUDA build of torch. Re-runs skip what is already installed.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
extras="${1:-}"
venv="${MEDPREFS_VENV:-$repo/.venv}"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
  echo "medprefs: creating virtual environment in $venv"
  "$python" -m venv "$venv"
fi
# shellcheck disable=SC1091
. "$venv/bin/activate"

stamp="$venv/.medprefs-installed${extras:+-$extras}"
want="$(cat "$repo/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  python -m pip install --quiet --disable-pip-version-check --upgrade pip
  if ! python -c "import torch, sys; sys.exit(0 if torch.__version__.startswith('2.13.0') else 1)" 2>/dev/null; then
    echo "medprefs: installing torch==2.13.0 (CPU) first"
    if [ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ]; then
      # PyPI's Linux x86_64 torch is the CUDA build: take the +cpu build from the configured sources (a local wheel
      # house), else from PyTorch's CPU index.
      python -m pip install --quiet --disable-pip-version-check "torch==2.13.0+cpu" 2>/dev/null \
        || python -m pip install --quiet --disable-pip-version-check "torch==2.13.0+cpu" \
             --extra-index-url https://download.pytorch.org/whl/cpu
    else
      python -m pip install --quiet --disable-pip-version-check "torch==2.13.0"  # CPU-only builds elsewhere
    fi
  fi
  echo "medprefs: installing the project${extras:+ with [$extras]}"
  python -m pip install --quiet --disable-pip-version-check -e "$repo${extras:+[$extras]}"
  python -c "import torch, sys; v = torch.__version__; sys.exit(0 if v.startswith('2.13.0') else f'torch {v} was installed instead of 2.13.0')"
  echo "$want" > "$stamp"
fi
cd "$repo"

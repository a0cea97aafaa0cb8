# Sourced by run.sh (requirements.txt), test.sh and .ci/run (requirements-test.txt, which includes
# requirements.txt): a virtualenv in .venv with that file installed, reinstalled when it or a file it
# includes changes. pip's own output is the progress of a first install.
requirements_file="${1:-requirements.txt}"
python_bin="${PYTHON:-python3.11}"
command -v "$python_bin" >/dev/null 2>&1 || python_bin=python3
if [ ! -x .venv/bin/python ]; then
    echo "Creating the virtualenv .venv with $("$python_bin" --version)..."
    "$python_bin" -m venv .venv
fi
# One stamp per requirements file, over it and the files its "-r" lines include.
included=$(sed -n 's/^-r[[:space:]]*//p' "$requirements_file")
stamp=".venv/.${requirements_file%.txt}.sha256"
wanted=$(cat "$requirements_file" $included | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    echo "Installing $requirements_file into .venv (the first time takes a few minutes)..."
    .venv/bin/python -m pip install --disable-pip-version-check --progress-bar on -r "$requirements_file"
    echo "$wanted" > "$stamp"
fi

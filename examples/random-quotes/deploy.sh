#!/usr/bin/env bash
# Installs Random Quotes for one environment. Ferry runs this inside the extracted package,
# with the project's variables in the environment (`Install Root` arrives as INSTALL_ROOT,
# `Octopus.Environment.Name` as OCTOPUS_ENVIRONMENT_NAME, and so on).
set -euo pipefail

environment="${OCTOPUS_ENVIRONMENT_NAME:?Ferry sets the environment name}"
version="${OCTOPUS_ACTION_PACKAGE_PACKAGEVERSION:?Ferry sets the package version}"
target="${INSTALL_ROOT:?set the project variable Install Root}/${environment}/RandomQuotes/${version}"

echo "Installing Random Quotes ${version} for ${environment} into ${target}"
mkdir -p "${target}"
cp -R index.html quotes.txt "${target}/"
ln -sfn "${target}" "${INSTALL_ROOT}/${environment}/RandomQuotes/current"
echo "Serving on port ${NGINX_PORT:-unset} (the Nginx Port variable)"
echo "Quote of this deployment: $(shuf -n 1 quotes.txt)"

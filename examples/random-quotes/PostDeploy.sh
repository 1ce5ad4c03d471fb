#!/usr/bin/env bash
# Starts Random Quotes for one environment. Ferry's helper runs this in the installation folder
# once it has extracted the package and substituted config/settings.json, with the
# deployment's variables in the environment (`App Socket` as APP_SOCKET,
# `Octopus.Environment.Name` as OCTOPUS_ENVIRONMENT_NAME).
#
# It stops the environment's previous instance (the one on the same socket), starts unicorn
# detached from this session on the unix socket, and waits until the app answers there. The
# pid file and log sit beside the socket: <socket without .sock>.pid and .log.
set -euo pipefail

environment=${OCTOPUS_ENVIRONMENT_NAME:?Ferry sets Octopus.Environment.Name}
socket=${APP_SOCKET:?set the project variable App Socket (the unix socket NGINX proxies to)}
[[ $socket == /* ]] || { echo "App Socket must be an absolute path, got '$socket'" >&2; exit 1; }
# A unix socket's path holds at most 107 bytes.
((${#socket} <= 107)) || { echo "App Socket is longer than 107 bytes: $socket" >&2; exit 1; }
app_root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
instance=${socket%.sock}
pid_file="$instance.pid"
log_file="$instance.log"
ready_seconds=20

command -v unicorn >/dev/null ||
  { echo "unicorn is not installed on this target (Debian: apt-get install unicorn ruby-sinatra)" >&2; exit 1; }
# Before the old instance stops: a package whose settings were not substituted must not
# replace one that works.
if grep -q '#{' "$app_root/config/settings.json"; then
  echo "config/settings.json still holds #{...}: list it in the step's files to substitute" >&2
  exit 1
fi

is_our_unicorn() { # pid
  local command_line
  command_line=$(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline") || return 1
  [[ $command_line == *"unicorn master"* ]]
}

stop_previous() {
  local pid="" i
  [[ -f $pid_file ]] || return 0
  read -r pid <"$pid_file" || true
  if [[ $pid =~ ^[0-9]+$ ]] && is_our_unicorn "$pid"; then
    echo "Stopping the previous Random Quotes for $environment (unicorn master $pid)"
    kill -QUIT "$pid" 2>/dev/null || true # graceful: workers finish their requests
    for ((i = 0; i < 200; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "unicorn $pid did not stop within 20 s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
    fi
  fi
  rm -f -- "$pid_file"
}

show_start_log() { # what this start wrote to the log (the error first, then its backtrace)
  echo "--- $log_file, from this start ---" >&2
  tail -n +"$((log_lines_before + 1))" -- "$log_file" | head -n 30 >&2 || true
}

stop_previous
mkdir -p -- "$(dirname -- "$socket")"
: >>"$log_file"
log_lines_before=$(wc -l <"$log_file")
printf '\n=== %s starting Random Quotes for %s from %s\n' "$(date '+%F %T')" "$environment" "$app_root" >>"$log_file"

# Fully detached: its own session, no descriptor of this one (the SSH channel would otherwise
# stay open until the app exits). unicorn -D returns once the master listens, or fails.
if ! (
  for descriptor in /proc/"$BASHPID"/fd/*; do
    descriptor=${descriptor##*/}
    if ((descriptor > 2 && descriptor != 255)); then exec {descriptor}>&-; fi
  done
  cd -- "$app_root"
  export APP_SOCKET="$socket" UNICORN_PID_FILE="$pid_file" UNICORN_LOG_FILE="$log_file"
  exec setsid -w unicorn -D -E production -c config/unicorn.rb config.ru </dev/null >>"$log_file" 2>&1
); then
  echo "unicorn failed to start for $environment" >&2
  show_start_log
  exit 1
fi

deadline=$((SECONDS + ready_seconds))
until curl -fsS --max-time 2 --unix-socket "$socket" -o /dev/null http://localhost/ 2>/dev/null &&
  answer=$(curl -fsS --max-time 2 --unix-socket "$socket" http://localhost/api/quote 2>/dev/null); do
  if ((SECONDS >= deadline)); then
    echo "Random Quotes did not answer on $socket within ${ready_seconds} s" >&2
    show_start_log
    exit 1
  fi
  sleep 0.2
done
if [[ $answer != *"\"environment\":\"$environment\""* ]]; then
  echo "warning: the app says it runs in another environment than $environment: $answer" >&2
fi
echo "Random Quotes for $environment is up (unicorn master $(cat -- "$pid_file"), socket $socket): $answer"

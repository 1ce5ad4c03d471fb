#!/usr/bin/env bash
# infra/nginx.sh — the dev stack's web server, sourced by infra/dev: a private NGINX on
# loopback that runs as the target account (infra/hosts.sh), so that a deployment logged in to
# a dev target as that account can write a site's configuration, validate it and reload.
# Nothing here touches the system's nginx (its service, configuration or logs).
#
#   FERRY_DEV_SITE_PORT_DEV   58081  the port the Dev site listens on
#   FERRY_DEV_SITE_PORT_TEST  58082  the Test site
#   FERRY_DEV_SITE_PORT_PROD  58083  the Prod site
#
# NGINX itself listens on nothing until a site file says so. Its files live in the target
# account's home, in a folder of this checkout's own (.ferry-dev/<checkout>-<hash>/nginx: the
# checkout's own .ferry-dev may sit where that account cannot pass, and several checkouts share
# the account): the main configuration (written on every `up`), which includes sites/*.conf,
# the pid file, logs and temporary folders.
# shellcheck disable=SC2154 # DEV, LOGS, RUN, ROOT, SUDO, TARGET_USER and the helpers come from infra/dev

SITE_PORT_DEV=$(port_var SITE_PORT_DEV 58081)
SITE_PORT_TEST=$(port_var SITE_PORT_TEST 58082)
SITE_PORT_PROD=$(port_var SITE_PORT_PROD 58083)
# shellcheck disable=SC2034 # read by infra/dev (its services list)
NGINX_SERVICES=(nginx)

# Commands as the target account: root switches with runuser, anyone else through sudo.
if [[ $EUID -eq 0 ]]; then
  AS_TARGET=(runuser -u "$TARGET_USER" --)
elif [[ $(id -un) == "$TARGET_USER" ]]; then
  AS_TARGET=()
else
  AS_TARGET=(sudo -u "$TARGET_USER" --)
fi
as_target() { (cd / && "${AS_TARGET[@]}" "$@"); }

nginx_bin() { [[ -x /usr/sbin/nginx ]] && printf '/usr/sbin/nginx'; }

# Sets NGINX_PREFIX, NGINX_CONF, NGINX_SITES, NGINX_PID_FILE, NGINX_ERROR_LOG and NGINX_FLAGS,
# the flags every nginx command of this instance takes (-e is the error log nginx opens before
# it reads its configuration: otherwise the system's, which the target account cannot write).
# Lazily: the target account (and so its home) may not exist until ensure_target_user has run.
NGINX_PREFIX=""
locate_nginx() {
  [[ -z $NGINX_PREFIX ]] || return 0
  local home checkout
  home=$(getent passwd "$TARGET_USER" | cut -d: -f6)
  [[ -n $home ]] || home="/home/$TARGET_USER" # not created yet: where useradd will put it
  checkout="${ROOT##*/}-$(printf '%s' "$ROOT" | sha256sum | cut -c1-8)"
  NGINX_PREFIX="$home/.ferry-dev/$checkout/nginx"
  NGINX_CONF="$NGINX_PREFIX/conf/nginx.conf"
  NGINX_SITES="$NGINX_PREFIX/sites"
  NGINX_PID_FILE="$NGINX_PREFIX/nginx.pid"
  NGINX_ERROR_LOG="$NGINX_PREFIX/logs/error.log"
  NGINX_FLAGS=(-p "$NGINX_PREFIX/" -c "$NGINX_CONF" -e "$NGINX_ERROR_LOG")
}

# Folders and the main configuration, owned by the target account. A running nginx reads a
# changed configuration on reload.
prepare_nginx() {
  locate_nginx
  local dir temp="$NGINX_PREFIX/temp"
  for dir in "${NGINX_PREFIX%/nginx}" "$NGINX_PREFIX"; do
    if ! { as_target mkdir -p "$dir" && as_target chmod 700 "$dir"; }; then
      die "cannot create $dir as $TARGET_USER"
    fi
  done
  as_target mkdir -p "$NGINX_PREFIX/conf" "$NGINX_SITES" "$NGINX_PREFIX/logs" \
    "$temp/client_body" "$temp/proxy" "$temp/fastcgi" "$temp/uwsgi" "$temp/scgi" ||
    die "cannot create the nginx folders under $NGINX_PREFIX"
  # A master of ours whose record in .ferry-dev/run was lost: adopt it rather than start a
  # second one (which could not bind the sites' ports anyway).
  local pid
  if ! is_running nginx && pid=$(nginx_master_pid); then
    printf '%s\n' "$pid" >"$(pid_file nginx)"
    say "nginx: adopted the running master (pid $pid)"
  fi
  as_target tee "$NGINX_CONF.new" >/dev/null <<EOF
# Written by infra/dev on every up (${ROOT}); sites go in $NGINX_SITES/<name>.conf.
daemon on;
worker_processes 1;
pid $NGINX_PID_FILE;
error_log $NGINX_ERROR_LOG warn;

events {
    worker_connections 512;
}

http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log $NGINX_PREFIX/logs/access.log;
    sendfile on;
    # Under the prefix: the compiled-in folders (/var/lib/nginx) are root's.
    client_body_temp_path $temp/client_body;
    proxy_temp_path $temp/proxy;
    fastcgi_temp_path $temp/fastcgi;
    uwsgi_temp_path $temp/uwsgi;
    scgi_temp_path $temp/scgi;

    include $NGINX_SITES/*.conf;
}
EOF
  if as_target cmp -s "$NGINX_CONF.new" "$NGINX_CONF"; then
    as_target rm -f "$NGINX_CONF.new"
  else
    as_target mv -f "$NGINX_CONF.new" "$NGINX_CONF" || die "cannot write $NGINX_CONF"
    if is_running nginx; then
      if as_target "$(nginx_bin)" -s reload "${NGINX_FLAGS[@]}"; then
        say "nginx: configuration reloaded"
      else
        warn "nginx: the new $NGINX_CONF does not load; the running nginx keeps the old one"
      fi
    fi
  fi
}

# The master's PID from nginx's own pid file, when it is alive and ours.
nginx_master_pid() {
  local pid
  pid=$(as_target cat "$NGINX_PID_FILE" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] && cmdline_matches nginx "$pid" || return 1
  printf '%s' "$pid"
}

launch_nginx() {
  locate_nginx
  local pid log="$LOGS/nginx.log" bin deadline
  bin=$(nginx_bin) || die "nginx is not installed (/usr/sbin/nginx)"
  (umask 077 && : >>"$log")
  printf '\n=== %s infra/dev: starting nginx as %s\n' "$(date '+%F %T')" "$TARGET_USER" >>"$log"
  # nginx forks into the background (daemon on) once it has bound the sites' ports.
  if ! as_target "$bin" "${NGINX_FLAGS[@]}" >>"$log" 2>&1 </dev/null 9>&-; then
    show_log_tail "$log"
    die "nginx failed to start (log: ${log#"$ROOT"/}, error log: $NGINX_ERROR_LOG)"
  fi
  deadline=$((SECONDS + 10))
  until pid=$(nginx_master_pid); do
    if ((SECONDS >= deadline)); then
      show_log_tail "$log"
      die "nginx started but wrote no pid file ($NGINX_PID_FILE) within 10s"
    fi
    sleep 0.1
  done
  printf '%s\n' "$pid" >"$(pid_file nginx)"
}

stop_nginx() {
  local pid i
  locate_nginx
  # Also a master of ours that .ferry-dev/run lost track of.
  if pid=$(pid_of nginx) || pid=$(nginx_master_pid); then
    # As the target account: its processes are not ours unless we are root.
    as_target kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      [[ -d /proc/$pid ]] || break
      sleep 0.1
    done
    if [[ -d /proc/$pid ]]; then
      warn "nginx (PID $pid) ignored SIGTERM for 5s; sending SIGKILL"
      as_target kill -KILL "$pid" 2>/dev/null || true
    fi
    say "nginx: stopped"
  fi
  forget nginx
}

# What deployments need to configure sites on the dev targets, for env.sh. The commands are
# for `bash -c`, run as the target account.
nginx_env() {
  locate_nginx
  local flags bin
  flags=$(printf ' %q' "${NGINX_FLAGS[@]}")
  bin=$(nginx_bin || echo /usr/sbin/nginx)
  printf 'export %s=%q\n' \
    FERRY_DEV_NGINX_CONFIG_FOLDER "$NGINX_SITES" \
    FERRY_DEV_NGINX_VALIDATE_COMMAND "$bin -t -q$flags" \
    FERRY_DEV_NGINX_RELOAD_COMMAND "$bin -s reload$flags" \
    FERRY_DEV_SITE_PORTS "$SITE_PORT_DEV $SITE_PORT_TEST $SITE_PORT_PROD"
}

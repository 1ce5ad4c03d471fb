# frozen_string_literal: true

# Unicorn for Random Quotes. PostDeploy.sh sets the socket, pid file and log in the environment;
# the app is loaded by the master before it listens, so bad settings fail the start, not a request.
worker_processes Integer(ENV.fetch("UNICORN_WORKERS", "2"))
working_directory File.expand_path("..", __dir__)
listen ENV.fetch("APP_SOCKET"), backlog: 64
pid ENV.fetch("UNICORN_PID_FILE")
stderr_path ENV.fetch("UNICORN_LOG_FILE")
stdout_path ENV.fetch("UNICORN_LOG_FILE")
preload_app true
timeout 30

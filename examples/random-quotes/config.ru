# frozen_string_literal: true

# Rack entry point: unicorn loads this (PostDeploy.sh starts it with config/unicorn.rb).
# A session without a locale (an SSH command's) would make Ruby read files as US-ASCII.
Encoding.default_external = Encoding::UTF_8

require_relative "app"

run RandomQuotes::App

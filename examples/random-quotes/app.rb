# frozen_string_literal: true

# Random Quotes: a page and a JSON API that name the environment and version they were deployed
# as, read from config/settings.json (which Ferry's variable substitution fills in).
require "json"
require "sinatra/base"

module RandomQuotes
  ROOT = File.expand_path(__dir__)

  # The deployment's settings; refuses a file Ferry did not substitute, so that the page never
  # shows "#{Octopus.Environment.Name}".
  def self.load_settings(path = File.join(ROOT, "config", "settings.json"))
    settings = JSON.parse(File.read(path, encoding: "UTF-8"))
    %w[environment version].each do |key|
      value = settings[key].to_s
      raise "#{path}: \"#{key}\" is missing" if value.empty?
      if value.include?("\#{")
        raise "#{path}: \"#{key}\" is still #{value}: list config/settings.json in the step's files to substitute"
      end
    end
    settings
  end

  def self.load_quotes(path = File.join(ROOT, "quotes.txt"))
    File.readlines(path, chomp: true, encoding: "UTF-8").map(&:strip).reject(&:empty?)
  end

  class App < Sinatra::Base
    SETTINGS = RandomQuotes.load_settings
    QUOTES = RandomQuotes.load_quotes

    set :root, ROOT

    helpers do
      def h(text)
        Rack::Utils.escape_html(text)
      end

      def deployed_environment
        SETTINGS["environment"]
      end

      def deployed_version
        SETTINGS["version"]
      end
    end

    get "/" do
      @quote = QUOTES.sample
      erb :index
    end

    get "/api/quote" do
      content_type :json
      JSON.generate(quote: QUOTES.sample, environment: deployed_environment, version: deployed_version)
    end
  end
end

# Signs like ConferenceCloud/ruby-scaleengine: JSON.generate in insertion order (raw UTF-8,
# '/' unescaped), signature added as the last key, posted as multipart/form-data.
#   ruby ruby_client.rb URL CDN API_KEY SECRET COMMAND [PARAMS_JSON]
require 'json'
require 'openssl'
require 'base64'
require 'net/http'
require 'uri'

url, cdn, api_key, secret, command, params_json = ARGV
request = { 'command' => command, 'api_key' => api_key, 'cdn' => cdn }
request.merge!(JSON.parse(params_json)) if params_json
request['timestamp'] = Time.now.to_i
signed = JSON.generate(request)
request['signature'] = Base64.strict_encode64(OpenSSL::HMAC.digest('sha256', secret, signed))
uri = URI(url)
post = Net::HTTP::Post.new(uri)
post.set_form([['json', JSON.generate(request)]], 'multipart/form-data')
response = Net::HTTP.start(uri.hostname, uri.port) { |http| http.request(post) }
abort("HTTP #{response.code}: #{response.body}") unless response.code == '200'
print response.body

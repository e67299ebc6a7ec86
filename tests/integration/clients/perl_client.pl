#!/usr/bin/perl
# Signs like ScaleEngine's se_api_client.pl: encode_json of a hash (random key order, raw
# UTF-8, '/' unescaped), unpadded base64 HMAC padded by hand, the signature member spliced in
# before the final '}', posted urlencoded. Core modules only.
#   perl perl_client.pl URL CDN API_KEY SECRET COMMAND [PARAMS_JSON]
use strict;
use warnings;
use JSON::PP;
use Digest::SHA qw(hmac_sha256_base64);
use HTTP::Tiny;

my ($url, $cdn, $api_key, $secret, $command, $params_json) = @ARGV;
my $params = $params_json ? JSON::PP->new->utf8->decode($params_json) : {};
my %request = (%$params, command => $command, api_key => $api_key, cdn => "$cdn", timestamp => time());
my $json = JSON::PP->new->utf8->canonical(0)->encode(\%request);
my $sig = hmac_sha256_base64($json, $secret);
while (length($sig) % 4) { $sig .= '='; }
$json =~ s/}$/,"signature":"$sig"}/;
my $response = HTTP::Tiny->new->post_form($url, { json => $json });
die "HTTP $response->{status}: $response->{content}\n" unless $response->{success};
print $response->{content};

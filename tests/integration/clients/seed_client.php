<?php
// The request code of the seed documentation pages, with URL, credentials and the
// command's parameters taken from the command line:
//   php seed_client.php URL CDN API_KEY SECRET COMMAND [PARAMS_JSON]
[$_, $url, $cdn, $apiKey, $secret, $command] = $argv;
$params = isset($argv[6]) ? json_decode($argv[6], true) : array();

$request = array(
    'command' => $command,
    'api_key' => $apiKey,
    'timestamp' => time(),
    'cdn' => (int)$cdn,
) + $params;
//Create request signature
$json_request = json_encode($request);
$sig = base64_encode(hash_hmac('sha256', $json_request, $secret, true));
$request['signature'] = $sig;
$json_request = json_encode($request);

$ch = curl_init();
curl_setopt($ch, CURLOPT_URL, $url); // Set the URL
curl_setopt($ch, CURLOPT_POST, true); // Perform a POST
curl_setopt($ch, CURLOPT_RETURNTRANSFER, true); // If not set, curl prints output to the browser
curl_setopt($ch, CURLOPT_HEADER, false); // If set, curl returns headers as part of the data stream
curl_setopt($ch, CURLOPT_POSTFIELDS, array('json' => $json_request)); // multipart/form-data
$response = curl_exec($ch); //Execute the API Call
if (!$response) {
    fwrite(STDERR, 'Failed to connect to the API');
    exit(2);
}
//Decode the response as an associative array
$arrResponse = json_decode($response, true);
if (!$arrResponse) {
    fwrite(STDERR, 'An error occured processing your request: ' . $response);
    exit(3);
}
echo json_encode($arrResponse);

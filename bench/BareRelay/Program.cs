using System.Globalization;
using UnifiedLlm.Bench.Relay;

// usage: bare-relay httpclient|yarp PORT UPSTREAM_V1_URL
// Serves POST /v1/chat/completions on 127.0.0.1:PORT by relaying it to UPSTREAM_V1_URL's chat/completions.
if (args is not [var kind, var port, var upstream] || !int.TryParse(port, CultureInfo.InvariantCulture, out var listenPort)
    || !Uri.TryCreate(upstream, UriKind.Absolute, out var upstreamV1))
{
    await Console.Error.WriteLineAsync("usage: bare-relay httpclient|yarp PORT UPSTREAM_V1_URL");
    return 2;
}

switch (kind)
{
    case "httpclient":
        await HttpClientRelay.RunAsync(listenPort, upstreamV1);
        return 0;
    case "yarp":
        await YarpRelay.RunAsync(listenPort, upstreamV1);
        return 0;
    default:
        await Console.Error.WriteLineAsync($"bare-relay: unknown relay '{kind}' (expected httpclient or yarp)");
        return 2;
}

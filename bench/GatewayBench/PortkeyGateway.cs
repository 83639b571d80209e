namespace UnifiedLlm.Bench;

/// <summary>
/// The Portkey gateway from npm as a peer: started with npx, pointed at the stub per request by its headers
/// (x-portkey-provider: openai, x-portkey-custom-host: the stub's /v1).
/// </summary>
internal static class PortkeyGateway
{
    public const string Package = "@portkey-ai/gateway";

    public static PeerProcess Start(string npx, int port) => PeerProcess.Start(npx, ["-y", Package, $"--port={port}", "--headless"]);

    public static HttpClient Client(int port, int upstreamPort)
    {
        var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromMinutes(2) };
        client.DefaultRequestHeaders.Add("x-portkey-provider", "openai");
        client.DefaultRequestHeaders.Add("x-portkey-custom-host", $"http://127.0.0.1:{upstreamPort}/v1");
        client.DefaultRequestHeaders.Add("Authorization", "Bearer bench");
        return client;
    }
}

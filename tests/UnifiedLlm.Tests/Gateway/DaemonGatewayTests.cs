using System.Text.Json;
using UnifiedLlm.Daemon.Admin;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Gateway;

/// <summary>
/// The gateway inside the real ullmd process: without the scheduler a local model answers 503 with the reason, its
/// fallback chain still serves, and breakers and provider counters show in ullmctl.
/// </summary>
public sealed class DaemonGatewayTests : IDisposable
{
    private readonly TempDirectory dir = new();

    public void Dispose() => dir.Dispose();

    [Fact(Timeout = 120_000)]
    public async Task Ullmd_serves_the_gateway_falls_back_from_local_models_and_reports_breakers()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cloud = await FakeUpstream.StartAsync();
        await using var broken = await FakeUpstream.StartAsync();
        broken.Handler = FallbackTests.Fault("500");
        var paths = DaemonProcess.WriteConfig(dir, $"""
            [models.tiny]
            backend = "llamacpp"
            source = "/models/tiny.gguf"

            [models.lonely]
            backend = "llamacpp"
            source = "/models/lonely.gguf"

            # Callers without a key (the unix socket's here) reach providers only with this (#21).
            [security]
            anonymous_providers = true

            [providers.cloud]
            kind = "openai"
            base_url = "{cloud.BaseAddress.AbsoluteUri}v1"
            models = ["gpt-x"]

            [providers.broken]
            kind = "openai"
            base_url = "{broken.BaseAddress.AbsoluteUri}v1"
            models = ["gpt-y"]

            [router]
            breaker_minimum_requests = 2

            [router.fallback]
            tiny = ["cloud/gpt-x"]
            """);
        await using var daemon = await DaemonProcess.StartAsync(dir, paths);
        await daemon.Notify.WaitForAsync("READY=1", TimeSpan.FromSeconds(60));
        using var http = GatewayHost.UnixClient(paths.OpenAiSocket);

        var (fellBack, _, _) = await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("tiny")));
        var (unavailable, reason, _) = await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("lonely")));
        for (var i = 0; i < 3; i++)
        {
            await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("broken/gpt-y")));
        }

        Assert.Equal(200, fellBack);
        Assert.Equal("gpt-x", cloud.Requests.Single().Body["model"]!.GetValue<string>());
        Assert.Equal(503, unavailable);
        Assert.Contains("/models/lonely.gguf", Http.ErrorMessage(reason), StringComparison.Ordinal);
        Assert.Equal(2, broken.Requests.Count);

        var status = await daemon.CtlAsync("status", "--json");
        using var statusJson = JsonDocument.Parse(status.StandardOutput);
        var breakers = statusJson.RootElement.GetProperty("breakers").EnumerateArray().ToDictionary(b => b.GetProperty("target").GetString()!, b => b.GetProperty("state").GetString());
        Assert.Equal("open", breakers["broken"]);
        Assert.Equal("closed", breakers["cloud"]);

        var providers = await daemon.CtlAsync("providers", "--json");
        using var providersJson = JsonDocument.Parse(providers.StandardOutput);
        var cloudRow = providersJson.RootElement.GetProperty("providers").EnumerateArray().Single(p => p.GetProperty("name").GetString() == "cloud");
        Assert.Equal("1", cloudRow.GetProperty("requests").ToString().Trim('"'));
        Assert.True(cloudRow.GetProperty("ttftEwmaMs").GetDouble() > 0);
        var exitCode = await daemon.StopAsync();
        Assert.True(exitCode == 0, $"ullmd exited with {exitCode}:\n{daemon.Output}");
    }
}

using UnifiedLlm.Tests.Gateway;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Reliability;

/// <summary>Issue #21, items 15 and 21: the OpenAI listeners of a real ullmd, as a client that probes them sees them.</summary>
public sealed class DaemonListenerTests : IDisposable
{
    private readonly TempDirectory dir = new();

    public void Dispose() => dir.Dispose();

    [Fact(Timeout = 120_000)]
    public async Task The_admin_api_is_unreachable_from_an_openai_listener_in_any_case_and_routing_errors_have_error_objects()
    {
        var ct = TestContext.Current.CancellationToken;
        var paths = DaemonProcess.WriteConfig(dir, """
            [models.tiny]
            backend = "llamacpp"
            source = "/models/tiny.gguf"
            """);
        await using var daemon = await DaemonProcess.StartAsync(dir, paths);
        await daemon.Notify.WaitForAsync("READY=1", TimeSpan.FromSeconds(60));
        using var http = GatewayHost.UnixClient(paths.OpenAiSocket);

        var answers = new List<(string Probe, int Status, string Message)>();
        foreach (var path in new[] { "/ullm.admin.v1.Admin/Status", "/ULLM.admin.v1.Admin/Status", "/Ullm.Admin.V1.Admin/Status", "/v1/no-such-thing" })
        {
            var (status, body, _) = await Http.SendAsync(http, Http.Post(path, "{}"));
            answers.Add((path, status, Http.ErrorMessage(body)));
        }

        using var wrongMethod = new HttpRequestMessage(HttpMethod.Get, "/v1/chat/completions");
        var (methodStatus, methodBody, _) = await Http.SendAsync(http, wrongMethod);

        Assert.All(answers, a => Assert.Equal(404, a.Status));
        Assert.All(answers, a => Assert.Contains("no such endpoint: POST", a.Message, StringComparison.Ordinal));
        Assert.Equal(405, methodStatus);
        Assert.Contains("GET is not allowed on /v1/chat/completions", Http.ErrorMessage(methodBody), StringComparison.Ordinal);
    }
}

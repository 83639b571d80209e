using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Gateway;

/// <summary>
/// server.io_scheduling in the real ullmd process: both settings serve whole and streamed answers through a provider and
/// the admin API, and each reaches .NET's sockets, seen in the process's threads. With inline completions .NET runs one
/// socket event thread per core, with the thread pool's (its default) fewer: one below 30 cores on x64.
/// </summary>
public sealed class IoSchedulingDaemonTests : IDisposable
{
    private const string SocketEventThread = ".NET Sockets";
    private readonly TempDirectory dir = new();

    public void Dispose() => dir.Dispose();

    [Theory(Timeout = 120_000)]
    [InlineData(null)]
    [InlineData("inline")]
    [InlineData("pool")]
    public async Task Each_setting_serves_answers_and_streams_and_sets_the_socket_event_threads(string? setting)
    {
        Assert.SkipWhen(Environment.ProcessorCount < 2, "with one core .NET runs one socket event thread either way, so the setting cannot be seen in the threads");
        await using var upstream = await FakeUpstream.StartAsync();
        upstream.Handler = (c, body) => body["stream"]?.GetValue<bool>() == true
            ? FakeUpstream.StreamAsync(c, "Hel", "lo")
            : FakeUpstream.WriteJsonAsync(c, FakeUpstream.Completion("hello"));
        var paths = DaemonProcess.WriteConfig(
            dir,
            $"""
            [security]
            anonymous_providers = true

            [providers.cloud]
            kind = "openai"
            base_url = "{upstream.V1.AbsoluteUri}"
            models = ["gpt-x"]
            """,
            serverExtra: setting is null ? "" : $"io_scheduling = \"{setting}\"");
        await using var daemon = await DaemonProcess.StartAsync(dir, paths);
        await daemon.Notify.WaitForAsync("READY=1", TimeSpan.FromSeconds(60));
        using var http = GatewayHost.UnixClient(paths.OpenAiSocket);

        var (whole, body, _) = await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("cloud/gpt-x")));
        var streamed = await http.SendAsync(Http.Post("/v1/chat/completions", Http.Chat("cloud/gpt-x", stream: true)), TestContext.Current.CancellationToken);
        var events = await streamed.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        var status = await daemon.CtlAsync("status");

        Assert.Equal(200, whole);
        Assert.Equal("hello", body.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
        Assert.Contains("\"content\":\"Hel\"", events, StringComparison.Ordinal);
        Assert.EndsWith("data: [DONE]\n\n", events, StringComparison.Ordinal);
        Assert.Equal(0, status.ExitCode);
        var eventThreads = Directory.GetDirectories($"/proc/{daemon.Pid}/task")
            .Count(task => File.ReadAllText(Path.Combine(task, "comm")).TrimEnd('\n') == SocketEventThread);
        if (setting == "pool")
        {
            Assert.InRange(eventThreads, 1, Environment.ProcessorCount - 1);
        }
        else
        {
            Assert.Equal(Environment.ProcessorCount, eventThreads);
        }
    }
}

namespace UnifiedLlm.Tests.Reliability;

/// <summary>
/// `ullmctl unload --force` against a real ullmd and a real llama-server with a stream in flight (issue #20): the stream
/// is ended at once with an error event, its audit row says why, and the unload does not wait for it. The client reads
/// nothing after the first chunks until the unload has answered, so the stream is still in flight all along: Kestrel
/// stops relaying once the client's socket is full. Draining without --force is asserted at the scheduler
/// (SchedulerTests.Explicit_unload_drains_and_stops, Eviction_waits_for_the_live_lease_…).
/// </summary>
public sealed class ForcedUnloadTests
{
    [Fact(Timeout = 180_000)]
    public async Task Unload_with_force_ends_a_stream_in_flight_at_once_with_an_error_event_and_an_audit_row_that_says_so()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var daemon = await TinyDaemon.StartAsync("ullm-force-unload", context: 16384) ?? DaemonFaultTests.Skipped();
        var backend = await daemon.LoadAsync();
        using var client = daemon.Client();
        using var response = await client.SendAsync(TinyDaemon.Chat(16000, stream: true), HttpCompletionOption.ResponseHeadersRead, ct);
        var requestId = response.Headers.GetValues("x-request-id").Single();
        using var body = new StreamReader(await response.Content.ReadAsStreamAsync(ct));
        await ReadChunksAsync(body, 3, ct);

        var unload = await daemon.Process.CtlAsync("unload", "tiny", "--force");

        Assert.True(unload.ExitCode == 0, unload.ToString());
        Assert.Contains("1 request(s) ended", unload.StandardOutput, StringComparison.Ordinal);
        Assert.False(Directory.Exists($"/proc/{backend.Pid}"), $"llama-server {backend.Pid} still runs after the forced unload answered");
        var rest = await body.ReadToEndAsync(ct).WaitAsync(TimeSpan.FromSeconds(30), ct);
        Assert.DoesNotContain("[DONE]", rest, StringComparison.Ordinal);
        Assert.True(rest.Contains("\"error\"", StringComparison.Ordinal) && rest.Contains("forced unload", StringComparison.Ordinal), $"no error event naming the forced unload in {Tail(rest)}");
        var row = await DaemonFaultTests.RowAsync(daemon, requestId);
        Assert.Equal("stream_failed", row.GetProperty("outcome").GetString());
        Assert.Contains("forced unload (ullmctl unload --force)", row.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    private static async Task ReadChunksAsync(StreamReader body, int count, CancellationToken cancellationToken)
    {
        for (var chunks = 0; chunks < count;)
        {
            var line = await body.ReadLineAsync(cancellationToken) ?? throw new InvalidOperationException($"the stream ended after {chunks} chunk(s)");
            chunks += line.StartsWith("data: ", StringComparison.Ordinal) ? 1 : 0;
        }
    }

    private static string Tail(string text) => text[^Math.Min(400, text.Length)..];
}

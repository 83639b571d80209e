using System.Net;
using System.Text.Json;
using UnifiedLlm.Tests.Gateway;
using UnifiedLlm.Tests.Models;

namespace UnifiedLlm.Tests.Reliability;

/// <summary>
/// Issue #21, items 1, 6 and 14: connections to a backend and how many requests it is sent at once. Against a real
/// llama-server where the defect was seen with one, against a fake upstream where the test needs to count what the
/// upstream did.
/// </summary>
public sealed class BackendConnectionTests
{
    private const string StreamedChat = """{"model":"tiny","messages":[{"role":"user","content":"hello"}],"max_tokens":24,"ignore_eos":true,"stream":true}""";

    [Fact(Timeout = 300_000)]
    public async Task Streamed_chats_in_a_row_never_meet_a_connection_the_backend_closed()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var llama = await LlamaServerProcess.StartAsync(ct);
        if (llama is null)
        {
            Assert.Skip(LlamaServerBinary.HowToGet);
        }

        // The premise: llama-server closes a keep-alive connection once it has streamed a response on it, and says
        // nothing (no "Connection: close"), so a client that pools it meets a dead connection.
        Assert.True(await ClosesAfterStreamingAsync(llama.BaseAddress, ct), "llama-server kept the connection open after streaming; this test no longer tests the fix");

        var models = new StaticModelEndpoints();
        models.Serve("tiny", llama.BaseAddress, "tiny", slots: 2);
        await using var host = await GatewayHost.StartAsync("", models);

        // Four clients, each with its own keep-alive connection to ullmd, 25 streamed chats in a row each.
        var clients = Enumerable.Range(0, 4).Select(_ => GatewayHost.UnixClient(host.SocketPath)).ToList();
        var outcomes = await Task.WhenAll(clients.Select(async client =>
        {
            var results = new List<string>();
            for (var i = 0; i < 25; i++)
            {
                results.Add(await ReadStreamAsync(client, "/v1/chat/completions", ct));
            }

            return results;
        }));
        clients.ForEach(c => c.Dispose());

        var all = outcomes.SelectMany(o => o).ToList();
        Assert.Equal(100, all.Count);
        Assert.All(all, outcome => Assert.Equal("200 [DONE]", outcome));
    }

    [Fact(Timeout = 300_000)]
    public async Task Overload_waits_in_ullmd_and_is_refused_with_429_never_502_and_leaves_the_breaker_closed()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var llama = await LlamaServerProcess.StartAsync(ct);
        if (llama is null)
        {
            Assert.Skip(LlamaServerBinary.HowToGet);
        }

        var models = new StaticModelEndpoints();
        models.Serve("tiny", llama.BaseAddress, "tiny", slots: 2, queueCapacity: 20);
        await using var host = await GatewayHost.StartAsync("", models);

        // 150 streams at once: more than llama-server's listen backlog, its slots and ullmd's queue together.
        var tasks = Enumerable.Range(0, 150).Select(async _ =>
        {
            using var client = GatewayHost.UnixClient(host.SocketPath);
            using var request = Http.Post("/v1/chat/completions", StreamedChat);
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
            var body = await response.Content.ReadAsStringAsync(ct);
            var retryAfter = response.Headers.RetryAfter?.Delta;
            return ((int)response.StatusCode, body, retryAfter);
        }).ToList();
        var results = await Task.WhenAll(tasks);

        var served = results.Where(r => r.Item1 == 200).ToList();
        var refused = results.Where(r => r.Item1 == 429).ToList();
        Assert.Equal(results.Length, served.Count + refused.Count);
        Assert.All(served, r => Assert.EndsWith("data: [DONE]\n\n", r.body, StringComparison.Ordinal));
        Assert.True(served.Count >= 22, $"only {served.Count} served: the two slots and the queue of 20 should all have been");
        Assert.All(refused, r => Assert.True(r.retryAfter >= TimeSpan.FromSeconds(1), $"429 without a Retry-After: {r.body}"));
        Assert.All(refused, r => Assert.Contains("tiny is busy", r.body, StringComparison.Ordinal));
        Assert.Equal("closed", host.Health.BreakerOf("local:tiny")?.State ?? "closed");
    }

    [Fact(Timeout = 60_000)]
    public async Task A_backend_never_sees_more_requests_at_once_than_its_slots()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var upstream = await FakeUpstream.StartAsync();
        var inFlight = 0;
        var most = 0;
        upstream.Handler = async (c, _) =>
        {
            var now = Interlocked.Increment(ref inFlight);
            InterlockedMax(ref most, now);
            await Task.Delay(50, c.RequestAborted);
            Interlocked.Decrement(ref inFlight);
            await FakeUpstream.WriteJsonAsync(c, FakeUpstream.Completion("ok"));
        };
        var models = new StaticModelEndpoints();
        models.Serve("tiny", upstream.BaseAddress, "tiny.gguf", slots: 3, queueCapacity: 10);
        await using var host = await GatewayHost.StartAsync("", models);

        var statuses = await Task.WhenAll(Enumerable.Range(0, 40).Select(async _ =>
        {
            using var client = GatewayHost.UnixClient(host.SocketPath);
            using var response = await client.SendAsync(Http.Post("/v1/chat/completions", Http.Chat("tiny")), ct);
            return ((int)response.StatusCode, response.Headers.RetryAfter?.Delta);
        }));

        Assert.InRange(most, 1, 3);
        Assert.All(statuses, s => Assert.True(s.Item1 is 200 or 429, $"status {s.Item1}"));
        Assert.InRange(statuses.Count(s => s.Item1 == 200), 13, 40);
        Assert.All(statuses.Where(s => s.Item1 == 429), s => Assert.True(s.Delta >= TimeSpan.FromSeconds(1)));
        Assert.Equal(statuses.Count(s => s.Item1 == 200), upstream.Requests.Count);
    }

    [Fact(Timeout = 60_000)]
    public async Task A_client_that_leaves_mid_stream_ends_the_upstream_request_at_once()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var upstream = await FakeUpstream.StartAsync();
        var written = 0;
        var leftAt = 0;
        var clientLeft = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var writtenAfterLeaving = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        upstream.Handler = async (c, _) =>
        {
            await FakeUpstream.StartSseAsync(c);
            await FakeUpstream.SendAsync(c, FakeUpstream.Chunk(null, role: true));
            try
            {
                // A generation of 400 tokens, 10 ms each, like a model on a slow CPU.
                for (var i = 0; i < 400; i++)
                {
                    await FakeUpstream.SendAsync(c, FakeUpstream.Chunk($"t{i} "));
                    Interlocked.Increment(ref written);
                    await Task.Delay(10, c.RequestAborted);
                }
            }
            finally
            {
                var at = Volatile.Read(ref written);
                writtenAfterLeaving.TrySetResult(clientLeft.Task.IsCompleted ? at - leftAt : -1);
            }
        };
        var models = new StaticModelEndpoints();
        models.Serve("tiny", upstream.BaseAddress, "tiny.gguf");
        await using var host = await GatewayHost.StartAsync("", models);

        // A client that really goes: its handler closes the connection instead of reading the rest to reuse it.
        var handler = UnifiedLlm.Ctl.UnixSocketHttp.Handler(host.SocketPath);
        handler.MaxResponseDrainSize = 0;
        using var leaving = new HttpClient(handler) { BaseAddress = new Uri("http://localhost/") };
        using (var request = Http.Post("/v1/chat/completions", Http.Chat("tiny", stream: true)))
        using (var response = await leaving.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct))
        using (var sse = new SseReader(await response.Content.ReadAsStreamAsync(ct)))
        {
            for (var i = 0; i < 5; i++)
            {
                await sse.NextAsync(ct);
            }

            leftAt = Volatile.Read(ref written);
            clientLeft.SetResult();
        }

        // Before the fix the gateway's HTTP handler read up to 1 MiB more to keep the connection (about 2 s here).
        var more = await writtenAfterLeaving.Task.WaitAsync(TimeSpan.FromSeconds(20), ct);
        Assert.InRange(more, 0, 30);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (models.HeldLeases > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10, ct);
        }

        Assert.Equal(0, models.HeldLeases);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int seen;
        while ((seen = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, seen) != seen)
        {
        }
    }

    /// <summary>Streams one chat on a raw keep-alive connection, then waits for the server to close it (or not, within 2 s).</summary>
    private static async Task<bool> ClosesAfterStreamingAsync(Uri server, CancellationToken ct)
    {
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(server.Host, server.Port, ct);
        var stream = tcp.GetStream();
        var body = System.Text.Encoding.UTF8.GetBytes(StreamedChat);
        var head = $"POST /v1/chat/completions HTTP/1.1\r\nHost: {server.Authority}\r\nConnection: keep-alive\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\n\r\n";
        await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(head), ct);
        await stream.WriteAsync(body, ct);
        var received = new System.Text.StringBuilder();
        var buffer = new byte[65536];
        while (!received.ToString().Contains("[DONE]", StringComparison.Ordinal) || !received.ToString().EndsWith("0\r\n\r\n", StringComparison.Ordinal))
        {
            var read = await stream.ReadAsync(buffer, ct);
            Assert.True(read > 0, "the server closed the connection before the stream ended");
            received.Append(System.Text.Encoding.UTF8.GetString(buffer, 0, read));
        }

        Assert.DoesNotContain("Connection: close", received.ToString(), StringComparison.OrdinalIgnoreCase);
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(ct);
        wait.CancelAfter(TimeSpan.FromSeconds(2));
        try
        {
            return await stream.ReadAsync(buffer, wait.Token) == 0;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return false;
        }
        catch (IOException)
        {
            return true;
        }
    }

    /// <summary>"STATUS [DONE]" when the stream ended as it should, else the status and the end of what came.</summary>
    private static async Task<string> ReadStreamAsync(HttpClient client, string path, CancellationToken ct)
    {
        using var request = Http.Post(path, StreamedChat);
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        var body = await response.Content.ReadAsStringAsync(ct);
        var done = body.EndsWith("data: [DONE]\n\n", StringComparison.Ordinal) || body.EndsWith("data: [DONE]\r\n\r\n", StringComparison.Ordinal);
        return done ? $"{(int)response.StatusCode} [DONE]" : $"{(int)response.StatusCode} {body[^Math.Min(body.Length, 300)..]}";
    }
}

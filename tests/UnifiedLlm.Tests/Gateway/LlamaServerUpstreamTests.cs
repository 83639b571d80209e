using System.Text.Json;
using UnifiedLlm.Tests.Models;

namespace UnifiedLlm.Tests.Gateway;

/// <summary>The gateway in front of a real llama-server with the tiny model: its real responses and SSE pass through intact.</summary>
public sealed class LlamaServerUpstreamTests
{
    private const string Request = """{"model":"tiny","messages":[{"role":"user","content":"hello"}],"max_tokens":6,"ignore_eos":true""";

    [Fact(Timeout = 300_000)]
    public async Task Real_llama_server_chat_streaming_and_not_through_both_listeners()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var llama = await LlamaServerProcess.StartAsync(ct);
        if (llama is null)
        {
            Assert.Skip(LlamaServerBinary.HowToGet);
        }

        var models = new StaticModelEndpoints();
        models.Serve("tiny", llama.BaseAddress, "tiny.gguf");
        await using var host = await GatewayHost.StartAsync("", models);
        var (_, secret) = await host.Keys.CreateAsync("llama", [], 0, 0, null, ct);

        var (status, body, _) = await Http.SendAsync(host.Tcp, Http.Post("/v1/chat/completions", Request + "}", secret));
        Assert.Equal(200, status);
        Assert.Equal("length", body.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.Equal(6, body.GetProperty("usage").GetProperty("completion_tokens").GetInt32());

        var events = await StreamingProxyTests.StreamAsync(host.Unix, Request + ""","stream":true,"stream_options":{"include_usage":true}}""");
        Assert.Equal("[DONE]", events[^1].Data);
        var chunks = events.Take(events.Count - 1).Select(e => JsonDocument.Parse(e.Data).RootElement).ToList();
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", c.GetProperty("object").GetString()));
        Assert.Contains(chunks, c => c.GetProperty("choices").GetArrayLength() > 0 && c.GetProperty("choices")[0].GetProperty("finish_reason").GetString() == "length");
        var usage = chunks[^1];
        Assert.Equal(0, usage.GetProperty("choices").GetArrayLength());
        Assert.Equal(6, usage.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.False(usage.GetProperty("usage").TryGetProperty("estimated", out _));

        var (completionStatus, completion, _) = await Http.SendAsync(host.Unix, Http.Post("/v1/completions", """{"model":"tiny","prompt":"a b","max_tokens":3,"ignore_eos":true}"""));
        Assert.Equal(200, completionStatus);
        Assert.Equal(3, completion.GetProperty("usage").GetProperty("completion_tokens").GetInt32());

        await host.StopAsync();
        var rows = await host.Audit.QueryAsync(new UnifiedLlm.Daemon.Storage.AuditQuery(null, null, null, 10), ct);
        Assert.Equal(3, rows.Count);
        Assert.All(rows, r => Assert.Equal(("ok", false), (r.Outcome, r.TokensEstimated)));
    }
}
